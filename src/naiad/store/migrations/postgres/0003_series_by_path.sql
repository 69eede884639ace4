-- migration 3: runs-table filters on a series' last value ("last(val/acc) > 0.9") find the runs by
-- index instead of scanning every series; the same index the SQLite catalog has.
CREATE INDEX series_by_path ON series(pid, last_num);
