-- Users: every field the five API documents show on a user. Timestamps are
-- epoch seconds (*_at) or microseconds (*_us). Email is unique without regard
-- to case; phone is unique when set.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT,
    password TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    birthdate TEXT,
    user_type TEXT NOT NULL DEFAULT 'customer',
    is_staff INTEGER NOT NULL DEFAULT 0,
    is_superuser INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    email_verified INTEGER NOT NULL DEFAULT 0,
    date_joined INTEGER NOT NULL,
    last_login INTEGER,
    password_changed_us INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;

-- Refresh tokens issued (outstanding) and used or logged out (blacklisted_at
-- set), as simplejwt's token_blacklist app keeps them.
CREATE TABLE refresh_tokens (
    jti TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    blacklisted_at INTEGER
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
