DELETE FROM one_time_tokens WHERE purpose IN ('passkey_register', 'passkey_login', 'passkey_mfa', 'passkey_reauth');
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_purpose_known;
ALTER TABLE one_time_tokens ADD CONSTRAINT one_time_tokens_purpose_known
    CHECK (purpose IN ('verify_email', 'reset_password', 'change_email', 'login_ticket'));
ALTER TABLE one_time_tokens DROP CONSTRAINT one_time_tokens_user_known;
ALTER TABLE one_time_tokens ALTER COLUMN user_id SET NOT NULL;
DROP TABLE passkeys;
