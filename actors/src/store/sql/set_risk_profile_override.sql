-- Sets user $2's risk-profile override to $3 (NULL clears it) by the admin $1, and audits
-- `user.risk_profile.updated`. One row: whether the user and the profile exist and, when both
-- do, the user's email and the override after the change with its version (V14's triggers bump
-- and announce it).
WITH target AS (
    SELECT id, email, risk_profile_override AS previous FROM users WHERE id = $2 FOR UPDATE
), profile AS (
    SELECT $3::text AS name
    WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM risk_profiles WHERE name = $3::text)
), changed AS (
    UPDATE users u SET risk_profile_override = profile.name, updated_at = now()
    FROM target, profile
    WHERE u.id = target.id
    RETURNING u.id, u.risk_profile_override, u.risk_profile_version, target.previous
), audit AS (
    INSERT INTO audit_events (user_id, action, entity_type, entity_id, details)
    SELECT $1, 'user.risk_profile.updated', 'user', c.id::text,
           jsonb_build_object('target_user_id', c.id, 'profile_name', c.risk_profile_override,
                              'previous_profile_name', c.previous)::text
    FROM changed c
)
SELECT EXISTS (SELECT 1 FROM target) AS user_found,
       EXISTS (SELECT 1 FROM profile) AS profile_found,
       (SELECT email FROM target) AS email,
       (SELECT risk_profile_override FROM changed) AS profile_name,
       (SELECT risk_profile_version FROM changed) AS version
