-- Users: every field the five API documents show on a user. Timestamps are
-- epoch seconds (*_at) or microseconds (*_us). Email is unique without regard
-- to case; phone is unique when set.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT,
    password TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    birthdate TEXT,
    user_type TEXT NOT NULL DEFAULT 'customer',
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    date_joined BIGINT NOT NULL,
    last_login BIGINT,
    password_changed_us BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;

-- Refresh tokens issued (outstanding) and used or logged out (blacklisted_at
-- set), as simplejwt's token_blacklist app keeps them.
CREATE TABLE refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    blacklisted_at BIGINT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
