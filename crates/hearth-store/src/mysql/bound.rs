//! A query of the shared files whose values are bound in `$N` order and sent in `?`
//! order.
//!
//! The shared queries number their placeholders (`UPDATE t SET a = $2 WHERE id = $1`,
//! `($1 IS NULL OR g = $1)`), and the code binds values in that numbering. MariaDB's
//! `?` are positional, so [`Bound`] keeps each value as it is bound and, when the query
//! runs, encodes them in the order the translation (`dialect.rs`) reported, a value as
//! many times as its `$N` appears. It offers the methods the shared files call on
//! sqlx's `Query` and `QueryScalar` (`bind`, `execute`, `fetch_*`), so those files
//! compile unchanged against either.

use super::Db;
use sqlx::mysql::{MySqlArguments, MySqlQueryResult, MySqlRow};
use sqlx::{Arguments, AssertSqlSafe, Encode, Error, Executor, FromRow, Type};
use std::marker::PhantomData;

/// One bound value, encoded on demand (once per `?` that stands for it).
type Value<'q> =
    Box<dyn Fn(&mut MySqlArguments) -> Result<(), sqlx::error::BoxDynError> + Send + Sync + 'q>;

/// The translated text, which `$N` each `?` takes, and the values bound so far.
struct Parts<'q> {
    sql: String,
    order: Vec<usize>,
    values: Vec<Value<'q>>,
}

impl<'q> Parts<'q> {
    fn new(sql: String, order: Vec<usize>) -> Self {
        Parts {
            sql,
            order,
            values: Vec::new(),
        }
    }

    fn bind<T>(&mut self, value: T)
    where
        T: Encode<'q, Db> + Type<Db> + Clone + Send + Sync + 'q,
    {
        self.values
            .push(Box::new(move |arguments| arguments.add(value.clone())));
    }

    /// The text and the arguments in `?` order. A query without `$N` (one the dialect
    /// left alone) takes its values as bound.
    fn arguments(self) -> Result<(String, MySqlArguments), Error> {
        let mut arguments = MySqlArguments::default();
        let order: Vec<usize> = if self.order.is_empty() {
            (0..self.values.len()).collect()
        } else {
            self.order
        };
        for index in order {
            let value = self.values.get(index).ok_or_else(|| {
                Error::Protocol(format!("no value bound for ${}: {}", index + 1, self.sql))
            })?;
            value(&mut arguments).map_err(Error::Encode)?;
        }
        Ok((self.sql, arguments))
    }
}

/// A statement (sqlx's `Query`, as the shared files use it).
pub(super) struct Bound<'q>(Parts<'q>);

impl<'q> Bound<'q> {
    pub(super) fn new(sql: String, order: Vec<usize>) -> Self {
        Bound(Parts::new(sql, order))
    }

    pub(super) fn bind<T>(mut self, value: T) -> Self
    where
        T: Encode<'q, Db> + Type<Db> + Clone + Send + Sync + 'q,
    {
        self.0.bind(value);
        self
    }

    pub(super) async fn execute<'c, E>(self, executor: E) -> Result<MySqlQueryResult, Error>
    where
        E: Executor<'c, Database = Db>,
    {
        let (sql, arguments) = self.0.arguments()?;
        sqlx::query_with(AssertSqlSafe(sql), arguments)
            .execute(executor)
            .await
    }

    pub(super) async fn fetch_one<'c, E>(self, executor: E) -> Result<MySqlRow, Error>
    where
        E: Executor<'c, Database = Db>,
    {
        let (sql, arguments) = self.0.arguments()?;
        sqlx::query_with(AssertSqlSafe(sql), arguments)
            .fetch_one(executor)
            .await
    }

    pub(super) async fn fetch_optional<'c, E>(self, executor: E) -> Result<Option<MySqlRow>, Error>
    where
        E: Executor<'c, Database = Db>,
    {
        let (sql, arguments) = self.0.arguments()?;
        sqlx::query_with(AssertSqlSafe(sql), arguments)
            .fetch_optional(executor)
            .await
    }

    pub(super) async fn fetch_all<'c, E>(self, executor: E) -> Result<Vec<MySqlRow>, Error>
    where
        E: Executor<'c, Database = Db>,
    {
        let (sql, arguments) = self.0.arguments()?;
        sqlx::query_with(AssertSqlSafe(sql), arguments)
            .fetch_all(executor)
            .await
    }
}

/// A one-column query (sqlx's `QueryScalar`, as the shared files use it).
pub(super) struct BoundScalar<'q, O>(Parts<'q>, PhantomData<fn() -> O>);

impl<'q, O> BoundScalar<'q, O>
where
    O: Send + Unpin,
    (O,): for<'r> FromRow<'r, MySqlRow>,
{
    pub(super) fn new(sql: String, order: Vec<usize>) -> Self {
        BoundScalar(Parts::new(sql, order), PhantomData)
    }

    pub(super) fn bind<T>(mut self, value: T) -> Self
    where
        T: Encode<'q, Db> + Type<Db> + Clone + Send + Sync + 'q,
    {
        self.0.bind(value);
        self
    }

    pub(super) async fn fetch_one<'c, E>(self, executor: E) -> Result<O, Error>
    where
        E: Executor<'c, Database = Db>,
    {
        let (sql, arguments) = self.0.arguments()?;
        sqlx::query_scalar_with(AssertSqlSafe(sql), arguments)
            .fetch_one(executor)
            .await
    }

    pub(super) async fn fetch_optional<'c, E>(self, executor: E) -> Result<Option<O>, Error>
    where
        E: Executor<'c, Database = Db>,
    {
        let (sql, arguments) = self.0.arguments()?;
        sqlx::query_scalar_with(AssertSqlSafe(sql), arguments)
            .fetch_optional(executor)
            .await
    }

    pub(super) async fn fetch_all<'c, E>(self, executor: E) -> Result<Vec<O>, Error>
    where
        E: Executor<'c, Database = Db>,
    {
        let (sql, arguments) = self.0.arguments()?;
        sqlx::query_scalar_with(AssertSqlSafe(sql), arguments)
            .fetch_all(executor)
            .await
    }
}
