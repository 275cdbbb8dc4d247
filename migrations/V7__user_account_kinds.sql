-- The contract's test-account and service-account rules (the same tests as
-- actors/src/domain.rs `is_test_email` and `is_service_email`), computed once when a user row is
-- written instead of on every dashboard read: classifying 10,000 emails cost ~20 ms of each
-- summary at 10,000 users (docs/performance.md).
ALTER TABLE users
    ADD COLUMN test_account BOOLEAN NOT NULL GENERATED ALWAYS AS (
        starts_with(lower(email), 'smoke.')
        OR starts_with(lower(email), 'disabled_')
        OR lower(email) LIKE '%@example.com'
        OR lower(email) LIKE '%@example.invalid'
    ) STORED,
    ADD COLUMN service_account BOOLEAN NOT NULL GENERATED ALWAYS AS (
        starts_with(lower(email), 'ops.bot.')
    ) STORED;
