//! Rows of this table and their queries.
