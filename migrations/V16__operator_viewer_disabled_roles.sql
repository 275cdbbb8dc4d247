-- The roles of "Accounts and sessions" (API.md): `operator` (the /ops reads and trading control),
-- `viewer` (read only), `disabled` (refused at login and on every request), beside the first three.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('trader', 'admin', 'service', 'operator', 'viewer', 'disabled'));
