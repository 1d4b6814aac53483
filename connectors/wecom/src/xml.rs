//! A small, defensive XML reader for callback bodies.
//!
//! quick-xml never expands DTD entities; on top of that, any `<!DOCTYPE`
//! is refused outright (no internal subset, no entity tricks), unknown
//! entity references fail, nesting is bounded. Elements become JSON:
//! text-only elements are strings, elements with children objects, and a
//! repeated name an array.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

const MAX_DEPTH: usize = 16;

/// The children of the document's root element (`<xml>` at WeCom) as a
/// JSON object.
pub(crate) fn parse(text: &str) -> Result<Map<String, Value>, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    // (name, children, text)
    let mut stack: Vec<(String, Map<String, Value>, String)> = Vec::new();
    let mut root: Option<Map<String, Value>> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!(
                "not well-formed XML at byte {}: {e}",
                reader.buffer_position()
            )
        })?;
        match event {
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Start(e) => {
                if root.is_some() {
                    return Err("content after the root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err("elements nested too deeply".into());
                }
                let name = String::from_utf8(e.name().as_ref().to_vec())
                    .map_err(|_| "element name is not UTF-8".to_string())?;
                stack.push((name, Map::new(), String::new()));
            }
            Event::Empty(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec())
                    .map_err(|_| "element name is not UTF-8".to_string())?;
                match stack.last_mut() {
                    Some((_, children, _)) => insert(children, name, Value::String(String::new())),
                    None => {
                        if root.is_some() {
                            return Err("content after the root element".into());
                        }
                        root = Some(Map::new());
                    }
                }
            }
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| format!("bad text or entity reference: {e}"))?;
                match stack.last_mut() {
                    Some((_, _, buf)) => buf.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::CData(c) => {
                let text = String::from_utf8(c.into_inner().into_owned())
                    .map_err(|_| "CDATA is not UTF-8".to_string())?;
                match stack.last_mut() {
                    Some((_, _, buf)) => buf.push_str(&text),
                    None => return Err("CDATA outside the root element".into()),
                }
            }
            Event::End(_) => {
                let (name, children, text) = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some((_, parent, _)) => {
                        let value = if children.is_empty() {
                            Value::String(text)
                        } else {
                            Value::Object(children)
                        };
                        insert(parent, name, value);
                    }
                    None => root = Some(children),
                }
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "no root element".to_string())
}

fn insert(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        None => {
            map.insert(name, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_wecom_events() {
        let m = parse(
            "<xml><ToUserName><![CDATA[ww1]]></ToUserName>\n<CreateTime>1705280833</CreateTime>\
             <Name><![CDATA[张三 & co]]></Name><Status>1</Status><Empty/>\
             <ExtAttr><Item><Name>工号</Name><Value>E1</Value></Item><Item><Name>x</Name><Value>y</Value></Item></ExtAttr>\
             <Esc>a &amp; b &#x4E2D;</Esc></xml>",
        )
        .unwrap();
        assert_eq!(m["ToUserName"], "ww1");
        assert_eq!(m["CreateTime"], "1705280833");
        assert_eq!(m["Name"], "张三 & co");
        assert_eq!(m["Empty"], "");
        assert_eq!(m["Esc"], "a & b 中");
        assert_eq!(
            m["ExtAttr"]["Item"][0],
            json!({"Name": "工号", "Value": "E1"})
        );
        assert_eq!(m["ExtAttr"]["Item"][1]["Value"], "y");
    }

    #[test]
    fn refuses_doctype_entities_and_junk() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><a>&lol2;</a></xml>"#;
        assert!(parse(bomb).unwrap_err().contains("DOCTYPE"));
        let external = r#"<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml/>"#;
        assert!(parse(external).unwrap_err().contains("DOCTYPE"));
        assert!(parse("<xml><a>&lol;</a></xml>").is_err());
        assert!(parse("<xml><a></xml>").is_err());
        assert!(parse("<xml></xml><xml></xml>").is_err());
        assert!(parse("").is_err());
        assert!(parse("just text").is_err());
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(&deep).is_err());
    }
}
