DELETE FROM one_time_tokens WHERE purpose = 'login_ticket';
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_known;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_known
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email'));
ALTER TABLE one_time_tokens DROP COLUMN attempts;
ALTER TABLE sessions DROP CONSTRAINT sessions_aal_known;
ALTER TABLE sessions DROP COLUMN auth_time, DROP COLUMN amr, DROP COLUMN aal;
DROP TABLE mfa_throttle;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_factors;
ALTER TABLE users DROP COLUMN mfa_enabled;
