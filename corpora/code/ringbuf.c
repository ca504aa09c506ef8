/* A fixed-size ring buffer of bytes with a simple line reader on top. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RING_CAPACITY 4096u

typedef struct {
    uint8_t data[RING_CAPACITY];
    size_t head; /* next byte to read */
    size_t tail; /* next free slot */
    size_t count;
} ring_t;

static void ring_init(ring_t *r) {
    memset(r, 0, sizeof(*r));
}

static size_t ring_write(ring_t *r, const uint8_t *src, size_t n) {
    size_t written = 0;
    while (written < n && r->count < RING_CAPACITY) {
        r->data[r->tail] = src[written++];
        r->tail = (r->tail + 1) % RING_CAPACITY;
        r->count++;
    }
    return written;
}

static int ring_read_line(ring_t *r, char *out, size_t cap) {
    size_t i, len = 0;
    for (i = 0; i < r->count; i++) {
        if (r->data[(r->head + i) % RING_CAPACITY] == '\n') {
            len = i;
            break;
        }
    }
    if (i == r->count || len + 1 > cap) {
        return -1; /* no complete line yet, or it does not fit */
    }
    for (i = 0; i < len; i++) {
        out[i] = (char)r->data[(r->head + i) % RING_CAPACITY];
    }
    out[len] = '\0';
    r->head = (r->head + len + 1) % RING_CAPACITY;
    r->count -= len + 1;
    return (int)len;
}

int main(void) {
    ring_t ring;
    char line[256];
    const char *input = "first line\nsecond line\npartial";
    ring_init(&ring);
    ring_write(&ring, (const uint8_t *)input, strlen(input));
    while (ring_read_line(&ring, line, sizeof line) >= 0) {
        printf("got: %s (%zu bytes left)\n", line, ring.count);
    }
    return 0;
}
