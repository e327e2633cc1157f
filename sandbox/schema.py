"""An LMS-like schema: the production table set (18 tables + alembic_version) and seed rows.

Key tables carry ``created_at`` like the LMS's models, and seed rows are dated over the past
weeks, so the active drill can compare rows created before a dump with the live database.
"""

from __future__ import annotations

ALEMBIC_REVISION = "0013_add_missing_course_lesson_columns"

_TABLES = """
CREATE TABLE alembic_version (version_num varchar(64) PRIMARY KEY);
CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, full_name text NOT NULL,
  role text NOT NULL DEFAULT 'student', created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE courses (id serial PRIMARY KEY, title text NOT NULL, slug text UNIQUE NOT NULL,
  instructor_id int REFERENCES users(id), published boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE lessons (id serial PRIMARY KEY, course_id int REFERENCES courses(id), title text,
  position int NOT NULL, duration_minutes int, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE enrollments (id serial PRIMARY KEY, user_id int REFERENCES users(id),
  course_id int REFERENCES courses(id), enrolled_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE lesson_progress (id serial PRIMARY KEY, enrollment_id int REFERENCES enrollments(id),
  lesson_id int REFERENCES lessons(id), completed_at timestamptz);
CREATE TABLE quizzes (id serial PRIMARY KEY, lesson_id int REFERENCES lessons(id), title text,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE quiz_questions (id serial PRIMARY KEY, quiz_id int REFERENCES quizzes(id),
  prompt text, kind text);
CREATE TABLE quiz_question_options (id serial PRIMARY KEY, question_id int
  REFERENCES quiz_questions(id), label text, correct boolean);
CREATE TABLE quiz_attempts (id serial PRIMARY KEY, quiz_id int REFERENCES quizzes(id),
  user_id int REFERENCES users(id), score numeric(5,2));
CREATE TABLE quiz_answers (id serial PRIMARY KEY, attempt_id int REFERENCES quiz_attempts(id),
  question_id int REFERENCES quiz_questions(id), answer text);
CREATE TABLE certificates (id serial PRIMARY KEY, enrollment_id int REFERENCES enrollments(id),
  serial text UNIQUE, issued_at timestamptz, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE payments (id serial PRIMARY KEY, user_id int REFERENCES users(id),
  course_id int REFERENCES courses(id), amount_cents int, currency char(3), status text,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE files (id serial PRIMARY KEY, owner_id int REFERENCES users(id), path text,
  size_bytes bigint, content_type text);
CREATE TABLE refresh_tokens (id serial PRIMARY KEY, user_id int REFERENCES users(id),
  token_hash text, expires_at timestamptz);
CREATE TABLE audit_logs (id bigserial PRIMARY KEY, actor_id int, action text,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE notifications (id serial PRIMARY KEY, user_id int REFERENCES users(id), body text);
CREATE TABLE webhook_events (id serial PRIMARY KEY, kind text, payload jsonb);
CREATE TABLE course_reviews (id serial PRIMARY KEY, course_id int REFERENCES courses(id),
  user_id int REFERENCES users(id), rating int);
"""

_SEED = """
INSERT INTO alembic_version VALUES ('{revision}');
INSERT INTO users (email, full_name, role, created_at)
  SELECT 'user' || i || '@lms.example', 'User ' || i, CASE WHEN i <= 5 THEN 'instructor'
  ELSE 'student' END, now() - (201 - i) * interval '3 hours' FROM generate_series(1, 200) AS i;
INSERT INTO courses (title, slug, instructor_id, published, created_at)
  SELECT 'Course ' || i, 'course-' || i, 1 + i % 5, true, now() - (21 - i) * interval '1 day'
  FROM generate_series(1, 20) AS i;
INSERT INTO lessons (course_id, title, position, duration_minutes, created_at)
  SELECT 1 + i % 20, 'Lesson ' || i, i, 10 + i % 30, now() - (201 - i) * interval '2 hours'
  FROM generate_series(1, 200) AS i;
INSERT INTO enrollments (user_id, course_id, enrolled_at, created_at)
  SELECT 6 + i % 195, 1 + i % 20, now() - (601 - i) * interval '1 hour',
  now() - (601 - i) * interval '1 hour' FROM generate_series(1, 600) AS i;
INSERT INTO quizzes (lesson_id, title, created_at)
  SELECT i, 'Quiz ' || i, now() - (51 - i) * interval '6 hours' FROM generate_series(1, 50) AS i;
INSERT INTO quiz_questions (quiz_id, prompt, kind)
  SELECT 1 + i % 50, 'Question ' || i, 'single' FROM generate_series(1, 200) AS i;
INSERT INTO quiz_attempts (quiz_id, user_id, score)
  SELECT 1 + i % 50, 6 + i % 195, (i * 7) % 100 FROM generate_series(1, 400) AS i;
INSERT INTO certificates (enrollment_id, serial, issued_at, created_at)
  SELECT i, 'CERT-' || i, now() - (101 - i) * interval '5 hours',
  now() - (101 - i) * interval '5 hours' FROM generate_series(1, 100) AS i;
INSERT INTO payments (user_id, course_id, amount_cents, currency, status, created_at)
  SELECT 6 + i % 195, 1 + i % 20, 4900, 'EUR', 'paid', now() - (301 - i) * interval '2 hours'
  FROM generate_series(1, 300) AS i;
INSERT INTO files (owner_id, path, size_bytes, content_type)
  SELECT 1 + i % 5, '/uploads/f' || i, 1024 * i, 'application/pdf' FROM generate_series(1, 50) i;
"""

#: Rows the retention rules of environments/sandbox.yaml examine: audit entries of the last
#: 300 days (the audit retention is 365 days; the sandbox's "cron" prunes older ones).
_RETENTION_SEED = """
INSERT INTO audit_logs (actor_id, action, created_at)
  SELECT 1 + i % 5, 'login', now() - (i || ' days')::interval FROM generate_series(0, 299) AS i;
"""


def schema_sql(revision: str = ALEMBIC_REVISION) -> str:
    return _TABLES + _SEED.format(revision=revision) + _RETENTION_SEED
