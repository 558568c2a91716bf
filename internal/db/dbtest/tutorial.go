package dbtest

// TutorialSchema is the users table the tutorial's GORM AutoMigrate
// creates (part 2), for the tests of adopting such a database.
const TutorialSchema = `
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE TABLE users (
    id uuid NOT NULL DEFAULT uuid_generate_v4(),
    name varchar(255) NOT NULL,
    email text NOT NULL,
    password text NOT NULL,
    role varchar(255) NOT NULL,
    provider text NOT NULL,
    photo text NOT NULL,
    verified boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX idx_users_email ON users (email);`
