//! Reading Query results: every page of a key (`all_pages`, bounded by `MAX_QUERY_PAGES`), and
//! the single responses `collect_page` assembles into an API page (`raw_page`, `newest_first`).

use std::collections::HashMap;

use super::{backend, s, DynamoStore, Item};
use crate::store::{RawPage, StoreError, StoreResult};

/// A safety stop for reading every page of one key: far beyond any account's data (a page is up
/// to 1 MB), and an error when reached, never a silently short answer.
const MAX_QUERY_PAGES: usize = 10_000;

impl DynamoStore {
    /// Every page of a query; `query` builds it afresh for each page.
    pub(super) async fn all_pages(
        &self,
        query: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> StoreResult<Vec<aws_sdk_dynamodb::operation::query::QueryOutput>> {
        let mut pages = Vec::new();
        let mut start_key: Option<Item> = None;
        for _ in 0..MAX_QUERY_PAGES {
            let out = query()
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(backend)?;
            start_key = out.last_evaluated_key().cloned();
            pages.push(out);
            if start_key.is_none() {
                return Ok(pages);
            }
        }
        Err(StoreError::Backend(format!(
            "a query ran past {MAX_QUERY_PAGES} pages"
        )))
    }

    /// One Query response as a `RawPage`: its items parsed, and the sort key it stopped at.
    pub(super) fn raw_page<T>(
        out: &aws_sdk_dynamodb::operation::query::QueryOutput,
        parse: impl Fn(&Item) -> StoreResult<T>,
    ) -> StoreResult<RawPage<T>> {
        Ok(RawPage {
            items: out.items().iter().map(parse).collect::<StoreResult<_>>()?,
            last_evaluated: out
                .last_evaluated_key()
                .and_then(|key| key.get("sk"))
                .and_then(|sk| sk.as_s().ok())
                .cloned(),
        })
    }

    /// A Query of partition `pk`, newest sort key first, below `before` (exclusive), resuming
    /// after `start`; `limit + 1` items per response, to know whether another page follows.
    pub(super) fn newest_first(
        &self,
        pk: &str,
        before: Option<&str>,
        start: Option<String>,
        limit: usize,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let query =
            self.client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk))
                .scan_index_forward(false)
                .limit(limit as i32 + 1)
                .set_exclusive_start_key(start.map(|sk| {
                    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
                }));
        match before {
            Some(b) => query
                .key_condition_expression("pk = :pk AND sk < :before")
                .expression_attribute_values(":before", s(b)),
            None => query.key_condition_expression("pk = :pk"),
        }
    }
}
