//! A YAML document as a small tree whose every node knows its line, so that policy
//! errors point at the line to fix. Built from `saphyr-parser` events; scalars keep
//! their source text (a check id `0010` or a compliance value `1.10` stays what was
//! written) and whether they were plain, so `~`, `null` and an empty value read as
//! "no value". Anchors and aliases are resolved by copying; only the first document of
//! a stream is read, as Wazuh does.

use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// One node with its position (line 1-based, column 1-based).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub line: usize,
    pub col: usize,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in document order; a repeated key stays repeated (the parser reports it).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A plain empty, `~` or `null` scalar: YAML's null.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The text of a non-null scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "an empty value",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A syntax error with its position.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

enum Frame {
    Seq { line: usize, col: usize, anchor: usize, items: Vec<Node> },
    Map { line: usize, col: usize, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// Parses the first document of `src`; `Ok(None)` for an empty stream.
pub(crate) fn parse(src: &str) -> Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(src);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| SyntaxError {
            line: e.marker().line().max(1),
            col: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let (line, col) = (span.start.line().max(1), span.start.col() + 1);
        let done = match event {
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) => None,
            Event::DocumentEnd | Event::StreamEnd => break,
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => Some(Node { line, col, value: node.value.clone() }),
                None => return Err(SyntaxError { line, col, message: "alias to an unknown anchor".into() }),
            },
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    line,
                    col,
                    value: Value::Scalar { text: text.into_owned(), plain: style == ScalarStyle::Plain },
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq { line, col, anchor, items: Vec::new() });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map { line, col, anchor, entries: Vec::new(), key: None });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Frame::Seq { line, col, anchor, items }) => {
                        (Node { line, col, value: Value::Seq(items) }, anchor)
                    }
                    Some(Frame::Map { line, col, anchor, entries, .. }) => {
                        (Node { line, col, value: Value::Map(entries) }, anchor)
                    }
                    None => return Err(SyntaxError { line, col, message: "unbalanced collection end".into() }),
                };
                if anchor > 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
        };
        if let Some(node) = done {
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq { items, .. }) => items.push(node),
                Some(Frame::Map { entries, key, .. }) => match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
            }
        }
    }
    Ok(root)
}
