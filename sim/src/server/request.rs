//! Request decoding helpers: tolerant query strings and Accept negotiation.

use crate::status::StatusError;

/// Query parameters, tolerant of the `?&a=b` form kube-rs sends (empty segments are ignored).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean flag (`true`/`1`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// All values given for `key` (e.g. repeated `dryRun`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn parse_u64(&self, key: &str) -> Result<Option<u64>, StatusError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| StatusError::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }
}

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// `as=PartialObjectMetadata[List]`: metadata only.
    Metadata,
    /// `as=Table`: server-side printing for `kubectl get`.
    Table,
}

/// Picks the first acceptable entry of the Accept header (JSON whenever any acceptable JSON form is listed).
pub fn negotiate(accept: Option<&str>) -> Result<Format, StatusError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Format::Json);
    };
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        if !matches!(media.as_str(), "application/json" | "*/*" | "application/*") {
            continue;
        }
        match (param("as"), param("g")) {
            (None, _) => return Ok(Format::Json),
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Ok(Format::Metadata);
            }
            (Some("Table"), Some("meta.k8s.io")) if param("v") == Some("v1") => {
                return Ok(Format::Table);
            }
            _ => continue,
        }
    }
    Err(StatusError::not_acceptable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tolerates_leading_ampersand() {
        let q = Query::parse(Some(
            "&watch=true&&timeoutSeconds=290&labelSelector=app%3Da",
        ));
        assert!(q.flag("watch"));
        assert_eq!(q.get("timeoutSeconds"), Some("290"));
        assert_eq!(q.get("labelSelector"), Some("app=a"));
        assert_eq!(q.get("missing"), None);
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(negotiate(None), Ok(Format::Json));
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf,application/json")),
            Ok(Format::Json)
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            )),
            Ok(Format::Metadata)
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            )),
            Ok(Format::Table)
        );
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf")).is_err());
        assert_eq!(negotiate(Some("application/json, */*")), Ok(Format::Json));
    }
}
