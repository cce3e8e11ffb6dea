//! `rules` (jwt_authn's `RequirementRule`s, first match wins, as in
//! gatehouse) and `requirement_map`. Each rule is named `rules-<index>`
//! after its place in the input, so logs and notes point back to it.

use std::collections::HashMap;

use super::input::Node;
use super::matching::map_match;
use super::model::{Action, Note, Rule, RuleBody};
use super::providers::{unknown_field, Mapped};
use super::requires::{action, need, Context, Need};
use super::ImportError;

/// Every rule of `rules` (absent: none), in order.
pub(crate) fn map_rules(root: &Node<'_>, providers: &[Mapped]) -> Result<Vec<Rule>, ImportError> {
    let named = match root.get("requirement_map") {
        Some(map) => map.entries()?.into_iter().collect(),
        None => HashMap::new(),
    };
    let context = Context { providers, named };
    let all: Vec<String> = providers.iter().map(|p| p.provider.name.clone()).collect();
    let Some(rules) = root.get("rules") else { return Ok(Vec::new()) };
    let mut mapped = Vec::new();
    for (index, rule) in rules.items()?.iter().enumerate() {
        mapped.push(map_rule(index, rule, &context, &all)?);
    }
    Ok(mapped)
}

fn map_rule(
    index: usize,
    node: &Node<'_>,
    context: &Context<'_>,
    all: &[String],
) -> Result<Rule, ImportError> {
    let mut notes = Vec::new();
    let matched = map_match(&node.required("match")?)?;
    notes.extend(matched.notes);
    let need = rule_need(node, context, &mut notes)?;
    let action = action(&need, all, &node.path, &mut notes);
    notes.extend(
        node.unknown_fields(&["match", "requires", "requirement_name"]).into_iter().map(unknown_field),
    );
    let name = format!("rules-{index}");
    if matched.dropped.is_empty() {
        let body = RuleBody { matcher: matched.matcher, action };
        return Ok(Rule { name, notes, body: Some(body) });
    }
    let conditions = matched.dropped.join("; ");
    // Without the conditions the rule covers more requests: safe when it
    // requires a token (more requests need one), not when it lets some in.
    if let Action::Require(_) = action {
        notes.push(Note::decision(format!(
            "{}.match: conditions left out ({conditions}), so this rule takes more requests than jwt_authn's and all of them need a token",
            node.path
        )));
        let body = RuleBody { matcher: matched.matcher, action };
        return Ok(Rule { name, notes, body: Some(body) });
    }
    notes.push(Note::decision(format!(
        "{}: left out: its match has conditions gatehouse cannot express ({conditions}); the requests it takes in jwt_authn go to the rules after it (or the default)",
        node.path
    )));
    Ok(Rule { name, notes, body: None })
}

/// `requires`, or the `requirement_map` entry `requirement_name` names.
fn rule_need(node: &Node<'_>, context: &Context<'_>, notes: &mut Vec<Note>) -> Result<Need, ImportError> {
    match (node.get("requires"), node.get("requirement_name")) {
        (Some(requires), None) => need(&requires, context, notes),
        (None, Some(name)) => {
            let key = name.string()?;
            let Some(requirement) = context.named.get(key) else {
                return Err(name.invalid(format!("no `{key}` in requirement_map")));
            };
            need(requirement, context, notes)
        }
        (None, None) => Ok(Need::Nothing),
        (Some(_), Some(_)) => {
            Err(node.invalid("both `requires` and `requirement_name`: jwt_authn takes one"))
        }
    }
}

/// Notes on the filter's other top-level fields.
pub(crate) fn top_level_notes(root: &Node<'_>) -> Result<Vec<Note>, ImportError> {
    let mut notes = Vec::new();
    if let Some(map) = root.get("requirement_map").filter(|m| !m.is_empty_message()) {
        let names: Vec<&str> = map.entries()?.into_iter().map(|(name, _)| name).collect();
        notes.push(Note::decision(format!(
            "{}: {names:?}: the rules here that name one are translated, but a route that selects one by name (per-route `requirement_name`) is not in this file; give that route the `gatehouse_rule` context extension and gatehouse a named rule for it",
            map.path
        )));
    }
    if let Some(rules) = root.get("filter_state_rules") {
        notes.push(Note::decision(format!(
            "{}: no equivalent (gatehouse does not read Envoy filter state); the requests these select are decided by the rules below",
            rules.path
        )));
    }
    for (field, why) in [
        (
            "strip_failure_response",
            "gatehouse's denies always carry a JSON body and a WWW-Authenticate challenge",
        ),
        ("stat_prefix", "gatehouse's metrics are its own (`gatehouse_check_requests_total`)"),
    ] {
        if let Some(present) = root.get(field) {
            notes.push(Note::info(format!("{}: no equivalent; {why}", present.path)));
        }
    }
    let known = [
        "@type",
        "providers",
        "rules",
        "requirement_map",
        "filter_state_rules",
        "bypass_cors_preflight",
        "strip_failure_response",
        "stat_prefix",
    ];
    notes.extend(root.unknown_fields(&known).into_iter().map(unknown_field));
    Ok(notes)
}
