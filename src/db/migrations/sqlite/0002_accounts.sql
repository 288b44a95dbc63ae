-- Accounts on every surface: university fields, verification and
-- deactivation state on users; profiles, student and staff profiles,
-- addresses, email preferences; the job outbox; rate-limit counters.
ALTER TABLE users ADD COLUMN university_id TEXT;
ALTER TABLE users ADD COLUMN major TEXT;
ALTER TABLE users ADD COLUMN academic_level TEXT;
ALTER TABLE users ADD COLUMN enrollment_year INTEGER;
ALTER TABLE users ADD COLUMN department TEXT;
ALTER TABLE users ADD COLUMN position TEXT;
ALTER TABLE users ADD COLUMN verification_sent_at INTEGER;
ALTER TABLE users ADD COLUMN deactivated_at INTEGER;
ALTER TABLE users ADD COLUMN deactivation_reason TEXT;
CREATE UNIQUE INDEX users_university_id ON users (university_id) WHERE university_id IS NOT NULL;

CREATE TABLE profiles (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    bio TEXT NOT NULL DEFAULT '',
    avatar TEXT,
    gender TEXT NOT NULL DEFAULT '',
    location TEXT NOT NULL DEFAULT ''
);

CREATE TABLE student_profiles (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    student_id TEXT NOT NULL,
    gpa TEXT,
    credits_completed INTEGER NOT NULL DEFAULT 0,
    graduation_date TEXT
);

CREATE TABLE staff_profiles (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    employee_id TEXT NOT NULL,
    hire_date TEXT,
    office_location TEXT NOT NULL DEFAULT '',
    office_hours TEXT NOT NULL DEFAULT ''
);

CREATE TABLE addresses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type TEXT NOT NULL DEFAULT 'shipping',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    company TEXT NOT NULL DEFAULT '',
    line1 TEXT NOT NULL,
    line2 TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses (user_id, id);
-- At most one default address per user and type.
CREATE UNIQUE INDEX addresses_one_default ON addresses (user_id, type) WHERE is_default;

CREATE TABLE email_preferences (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    order_confirmation INTEGER NOT NULL DEFAULT 1,
    order_status_update INTEGER NOT NULL DEFAULT 1,
    password_reset INTEGER NOT NULL DEFAULT 1,
    inventory_alerts INTEGER NOT NULL DEFAULT 0,
    marketing INTEGER NOT NULL DEFAULT 0,
    receive_digest INTEGER NOT NULL DEFAULT 1
);

-- Transactional outbox: a row written in the same transaction as the change
-- that causes the side effect, run later by the job runner with retries.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_at INTEGER NOT NULL,
    locked_until INTEGER,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    failed_at INTEGER,
    last_error TEXT
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE done_at IS NULL AND failed_at IS NULL;

-- Fixed-window counters of the rate limiter, shared by every process.
CREATE TABLE rate_limits (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
