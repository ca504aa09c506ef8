"""A small inventory ledger: items, stock movements and a reorder report."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass
class Item:
    sku: str
    name: str
    unit_price: float
    reorder_level: int = 10
    movements: list[tuple[date, int]] = field(default_factory=list)

    @property
    def on_hand(self) -> int:
        return sum(qty for _, qty in self.movements)

    def receive(self, qty: int, when: date | None = None) -> None:
        if qty <= 0:
            raise ValueError(f"received quantity must be positive, got {qty}")
        self.movements.append((when or date.today(), qty))

    def ship(self, qty: int, when: date | None = None) -> None:
        if qty > self.on_hand:
            raise ValueError(f"cannot ship {qty} of {self.sku}: only {self.on_hand} on hand")
        self.movements.append((when or date.today(), -qty))


class Ledger:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        if item.sku in self.items:
            raise KeyError(f"duplicate SKU {item.sku!r}")
        self.items[item.sku] = item

    def value(self) -> float:
        return round(sum(i.on_hand * i.unit_price for i in self.items.values()), 2)

    def to_reorder(self) -> list[Item]:
        low = [i for i in self.items.values() if i.on_hand <= i.reorder_level]
        return sorted(low, key=lambda i: (i.on_hand - i.reorder_level, i.sku))

    @classmethod
    def from_csv(cls, path: Path) -> "Ledger":
        ledger = cls()
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                item = Item(row["sku"], row["name"], float(row["price"]), int(row.get("reorder", 10)))
                item.receive(int(row["qty"]))
                ledger.add(item)
        return ledger

    def dump(self, path: Path) -> None:
        data = {sku: {"name": i.name, "on_hand": i.on_hand, "price": i.unit_price}
                for sku, i in sorted(self.items.items())}
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    ledger = Ledger()
    for n in range(1, 6):
        item = Item(f"SKU-{n:04d}", f"widget {n}", unit_price=2.5 * n, reorder_level=5 * n)
        item.receive(12 * n)
        item.ship(3 * n * n)
        ledger.add(item)
    print(f"stock value: {ledger.value():.2f}")
    for item in ledger.to_reorder():
        print(f"reorder {item.sku} ({item.name}): {item.on_hand} left, level {item.reorder_level}")
