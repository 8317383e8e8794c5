# Run inside the database container: its database's sha256 and row count, as JSON.
import hashlib
import json
import sqlite3

with open("/data/db.sqlite", "rb") as handle:
    digest = hashlib.sha256(handle.read()).hexdigest()
rows = sqlite3.connect("file:/data/db.sqlite?mode=ro", uri=True).execute("SELECT count(*) FROM t").fetchone()[0]
print(json.dumps({"sha256": digest, "rows": rows}))
