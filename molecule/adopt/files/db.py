# The database container: a SQLite database in its named volume, seeded once (1000 rows), a directory owned by
# uid 70 as a database server's would be; then it idles until docker stop (SIGTERM).
import os
import signal
import sqlite3
import sys
import time

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
db = sqlite3.connect("/data/db.sqlite")
db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, v TEXT)")
if db.execute("SELECT count(*) FROM t").fetchone()[0] == 0:
    db.executemany("INSERT INTO t (v) VALUES (?)", [("row %d" % i,) for i in range(1000)])
    db.commit()
db.close()
os.makedirs("/data/server", exist_ok=True)
with open("/data/server/owned-by-70", "w") as handle:
    handle.write("server file\n")
for path in ("/data/server", "/data/server/owned-by-70"):
    os.chown(path, 70, 70)
while True:
    time.sleep(3600)
