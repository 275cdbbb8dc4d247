-- Minutes before $1, at most 100 of them (run when a new minute starts: bounded work).
DELETE FROM exit_auto_close_minutes
WHERE minute IN (SELECT minute FROM exit_auto_close_minutes WHERE minute < $1 ORDER BY minute LIMIT 100)
