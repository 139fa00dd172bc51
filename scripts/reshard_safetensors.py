#!/usr/bin/env python3
"""Split one model.safetensors into shards of at most --max-mib MiB with a
model.safetensors.index.json, as Hugging Face ships large checkpoints. Pure Python
(no numpy/torch): tensors are copied byte for byte. Used to keep every bundled file
small enough for the repository."""
import argparse, json, os, struct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out_dir")
    ap.add_argument("--max-mib", type=float, default=20)
    a = ap.parse_args()
    with open(a.src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        meta = header.pop("__metadata__", None)
        names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
        shards, cur, size = [], [], 0
        limit = int(a.max_mib * 2**20)
        for k in names:
            b, e = header[k]["data_offsets"]
            if cur and size + (e - b) > limit:
                shards.append(cur); cur, size = [], 0
            cur.append(k); size += e - b
        if cur:
            shards.append(cur)
        weight_map = {}
        total = 0
        for i, keys in enumerate(shards):
            fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            h, blobs, off = {}, [], 0
            for k in keys:
                b, e = header[k]["data_offsets"]
                f.seek(base + b)
                blobs.append(f.read(e - b))
                h[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"], "data_offsets": [off, off + e - b]}
                off += e - b
                weight_map[k] = fname
            total += off
            if meta is not None:
                h["__metadata__"] = meta
            hb = json.dumps(h, separators=(",", ":")).encode()
            hb += b" " * (-len(hb) % 8)
            with open(os.path.join(a.out_dir, fname), "wb") as g:
                g.write(struct.pack("<Q", len(hb))); g.write(hb)
                for blob in blobs:
                    g.write(blob)
        with open(os.path.join(a.out_dir, "model.safetensors.index.json"), "w") as g:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, g, indent=2)


if __name__ == "__main__":
    main()
