"""`python -m tokenizers_lab` runs the `tokenlab` CLI."""

from tokenizers_lab.cli import main

if __name__ == "__main__":
    main()
