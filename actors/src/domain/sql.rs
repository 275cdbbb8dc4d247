//! How domain values cross into PostgreSQL: ids as `uuid`, closed sets of names and symbols as
//! `text`. A stored text that is not one of the set's names fails the row's parse (a corrupt row
//! is an error to see, not a value to guess).

/// `ToSql`/`FromSql` for a domain type stored as `$stored`: `|$value| $to` is the stored form of a
/// value, `|$raw| $from` parses a stored one (a `Result` whose error names what was wrong).
macro_rules! stored_as {
    ($name:ty, $stored:ty, |$value:ident| $to:expr, |$raw:ident| $from:expr) => {
        impl<'a> tokio_postgres::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                bytes: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                let $raw = <$stored as tokio_postgres::types::FromSql>::from_sql(ty, bytes)?;
                $from.map_err(|e| format!("stored {}: {e}", stringify!($name)).into())
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <$stored as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }

        impl tokio_postgres::types::ToSql for $name {
            fn to_sql(
                &self,
                ty: &tokio_postgres::types::Type,
                out: &mut bytes::BytesMut,
            ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
                let $value = self;
                <$stored as tokio_postgres::types::ToSql>::to_sql(&$to, ty, out)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <$stored as tokio_postgres::types::ToSql>::accepts(ty)
            }

            tokio_postgres::types::to_sql_checked!();
        }
    };
}
pub(crate) use stored_as;

/// A type stored as text, through its `as_str` and `FromStr`.
macro_rules! text_column {
    ($name:ty) => {
        $crate::domain::sql::stored_as!($name, &str, |value| value.as_str(), |text| text.parse::<$name>());
    };
}
pub(crate) use text_column;
