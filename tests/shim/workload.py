"""workload.py — a deterministic Python workload for the malloc shim test (run_programs.sh):
dicts, strings and threads. It checks its own results and prints one line per part; the test
compares that output with a run without the shim.
"""
import hashlib
import queue
import threading


def dicts():
    d = {}
    for i in range(200000):
        d["key%d" % i] = [i, str(i) * (i % 7), {"n": i}]
    for i in range(0, 200000, 3):
        del d["key%d" % i]
    total = sum(v[0] for v in d.values())
    assert len(d) == 133333, len(d)
    assert total == sum(i for i in range(200000) if i % 3), total
    return "dicts %d %d" % (len(d), total)


def strings():
    parts = ["%05d:%s" % (i, "x" * (i % 50)) for i in range(50000)]
    text = "|".join(parts)
    back = text.split("|")
    assert back == parts
    upper = text.upper().replace("X", "yz")
    digest = hashlib.sha256(upper.encode()).hexdigest()
    words = {}
    for w in upper.split(":"):
        words[w[-3:]] = words.get(w[-3:], 0) + 1
    return "strings %d %d %s" % (len(text), len(words), digest[:16])


def threads():
    q = queue.Queue()
    results = []
    lock = threading.Lock()

    def producer(k):
        for i in range(20000):
            q.put((k, i, bytes(range(i % 256)) * 2))
        q.put(None)

    def consumer():
        local = 0
        done = 0
        while done < 1:
            item = q.get()
            if item is None:
                done += 1
                continue
            local += item[1] + len(item[2])
        with lock:
            results.append(local)

    producers = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
    consumers = [threading.Thread(target=consumer) for _ in range(4)]
    for t in producers + consumers:
        t.start()
    for t in producers + consumers:
        t.join()
    expected = 4 * sum(i + 2 * (i % 256) for i in range(20000))
    assert sum(results) == expected, (sum(results), expected)
    return "threads %d" % sum(results)


if __name__ == "__main__":
    print(dicts())
    print(strings())
    print(threads())
