-- One of the cluster's automatic closes of minute $1, if fewer than $2 were taken: returns the
-- minute's count with this one, or no row when the cap is reached. The minute's row stays
-- locked until the transaction ends, so daemons take slots one after the other.
INSERT INTO exit_auto_close_minutes AS m (minute, closes) VALUES ($1, 1)
ON CONFLICT (minute) DO UPDATE SET closes = m.closes + 1 WHERE m.closes < $2
RETURNING closes
