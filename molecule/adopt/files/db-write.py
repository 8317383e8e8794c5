# Run inside the database container while remapped: 250 more rows.
import sqlite3

db = sqlite3.connect("/data/db.sqlite")
db.executemany("INSERT INTO t (v) VALUES (?)", [("remapped %d" % i,) for i in range(250)])
db.commit()
