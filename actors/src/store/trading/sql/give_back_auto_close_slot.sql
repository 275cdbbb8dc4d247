-- The close the slot of minute $1 was taken for did not happen: the slot is free again.
UPDATE exit_auto_close_minutes SET closes = closes - 1 WHERE minute = $1 AND closes > 0
