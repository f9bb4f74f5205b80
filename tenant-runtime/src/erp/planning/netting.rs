//! The MRP calculation itself, on facts already loaded (no database here, so it is tested
//! on its own and costs microseconds per item): items are taken parents before components
//! (a topological order of the active BOMs), each item's gross requirement (its own demand
//! plus what the orders planned for its parents need) is netted against usable stock, stock
//! held for documents outside the plan and open supply, and what is still missing becomes a
//! planned order: made when the item has an active BOM (whose components then need their
//! share, scrap included), bought otherwise.
//!
//! Not time-phased: the plan nets totals over the whole horizon and carries the earliest
//! date something is needed by (`need_by`) down the BOM, without lead times.

use crate::erp::production::orders::requirement;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use utoipa::ToSchema;
use uuid::Uuid;

/// One component line of an active BOM, per unit of its parent.
#[derive(Debug, Clone)]
pub struct BomLine {
    pub component: Uuid,
    /// In the component's base unit, per unit of the parent.
    pub per_unit: Decimal,
    pub scrap_percent: Decimal,
}

/// What is known of one item before planning.
#[derive(Debug, Clone, Default)]
pub struct ItemFacts {
    /// Open sales order lines and open manufacturing orders' components still to consume.
    pub demand: Decimal,
    /// The earliest date of that demand.
    pub demand_by: Option<NaiveDate>,
    /// Usable stock in the warehouse (may be negative where the company allows it).
    pub on_hand: Decimal,
    /// Held back for documents whose demand is not in the plan.
    pub reserved: Decimal,
    /// Still to arrive on open purchase and manufacturing orders.
    pub on_order: Decimal,
    /// The item's active BOM, when it has one (then it is made, not bought).
    pub bom: Option<Vec<BomLine>>,
}

/// Whether a planned quantity is bought or made (or nothing is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = MrpAction)]
pub enum Action {
    None,
    Buy,
    Make,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Buy => "buy",
            Self::Make => "make",
        }
    }
}

/// The netting of one item.
#[derive(Debug, Clone)]
pub struct Planned {
    pub item_id: Uuid,
    /// 0 for items no active BOM uses; else one more than its deepest parent.
    pub level: i32,
    pub demand: Decimal,
    pub dependent: Decimal,
    pub on_hand: Decimal,
    pub reserved: Decimal,
    pub on_order: Decimal,
    /// Gross requirement minus what stock and open supply cover, when positive.
    pub planned: Decimal,
    pub action: Action,
    pub need_by: Option<NaiveDate>,
}

/// The active BOMs contain a cycle through these items (saving and activating a BOM
/// refuse cycles, so this means the data changed behind the API's back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleFound(pub Vec<Uuid>);

/// Plans every item of `facts` (components named by a BOM but missing from `facts` are
/// planned too, with no facts of their own). Lines come back parents first.
pub fn plan(mut facts: HashMap<Uuid, ItemFacts>) -> Result<Vec<Planned>, CycleFound> {
    let components: Vec<Uuid> = facts
        .values()
        .flat_map(|item| item.bom.iter().flatten().map(|line| line.component))
        .collect();
    for component in components {
        facts.entry(component).or_default();
    }
    let order = parents_first(&facts)?;
    let mut dependent: HashMap<Uuid, (Decimal, Option<NaiveDate>)> = HashMap::new();
    let mut lines = Vec::with_capacity(order.len());
    for (item_id, level) in order {
        let item = &facts[&item_id];
        let (extra, extra_by) = dependent.remove(&item_id).unwrap_or_default();
        let line = net(
            item_id,
            level,
            item,
            extra,
            earliest(item.demand_by, extra_by),
        );
        if line.action == Action::Make {
            for bom_line in item.bom.iter().flatten() {
                let need = requirement(line.planned, bom_line.per_unit, bom_line.scrap_percent);
                let entry = dependent.entry(bom_line.component).or_default();
                entry.0 += need;
                entry.1 = earliest(entry.1, line.need_by);
            }
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Nets one item's requirement against what covers it.
fn net(
    item_id: Uuid,
    level: i32,
    item: &ItemFacts,
    dependent: Decimal,
    need_by: Option<NaiveDate>,
) -> Planned {
    let gross = item.demand + dependent;
    let covered = item.on_hand - item.reserved + item.on_order;
    let planned = (gross - covered).max(Decimal::ZERO).normalize();
    let action = match (planned > Decimal::ZERO, item.bom.is_some()) {
        (false, _) => Action::None,
        (true, true) => Action::Make,
        (true, false) => Action::Buy,
    };
    Planned {
        item_id,
        level,
        demand: item.demand,
        dependent,
        on_hand: item.on_hand,
        reserved: item.reserved,
        on_order: item.on_order,
        planned,
        action,
        need_by: if gross > Decimal::ZERO { need_by } else { None },
    }
}

fn earliest(a: Option<NaiveDate>, b: Option<NaiveDate>) -> Option<NaiveDate> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Every item with its level, each after all of its parents (Kahn's algorithm over
/// parent -> component edges; the level is the longest path from a top item). Ties are
/// broken by id so a plan is reproducible.
fn parents_first(facts: &HashMap<Uuid, ItemFacts>) -> Result<Vec<(Uuid, i32)>, CycleFound> {
    let mut parents_left: HashMap<Uuid, usize> = facts.keys().map(|id| (*id, 0)).collect();
    for item in facts.values() {
        for line in item.bom.iter().flatten() {
            *parents_left.entry(line.component).or_default() += 1;
        }
    }
    let mut ready: Vec<Uuid> = parents_left
        .iter()
        .filter(|(_, left)| **left == 0)
        .map(|(id, _)| *id)
        .collect();
    ready.sort_unstable();
    let mut queue: VecDeque<Uuid> = ready.into();
    let mut level: HashMap<Uuid, i32> = HashMap::new();
    let mut order = Vec::with_capacity(facts.len());
    while let Some(id) = queue.pop_front() {
        let own = *level.entry(id).or_insert(0);
        order.push((id, own));
        let mut freed = Vec::new();
        for line in facts[&id].bom.iter().flatten() {
            let child = level.entry(line.component).or_insert(0);
            *child = (*child).max(own + 1);
            let left = parents_left
                .get_mut(&line.component)
                .expect("every component is an item");
            *left -= 1;
            if *left == 0 {
                freed.push(line.component);
            }
        }
        freed.sort_unstable();
        queue.extend(freed);
    }
    if order.len() < facts.len() {
        let mut stuck: Vec<Uuid> = parents_left
            .into_iter()
            .filter(|(_, left)| *left > 0)
            .map(|(id, _)| id)
            .collect();
        stuck.sort_unstable();
        return Err(CycleFound(stuck));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn dec(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    fn line(component: u128, per_unit: &str, scrap: &str) -> BomLine {
        BomLine {
            component: id(component),
            per_unit: dec(per_unit),
            scrap_percent: dec(scrap),
        }
    }

    fn by_item(lines: &[Planned]) -> HashMap<Uuid, &Planned> {
        lines.iter().map(|line| (line.item_id, line)).collect()
    }

    /// Bike (1) = 2 wheels (2) + frame (3); wheel = 36 spokes (4) with 10 % scrap; the
    /// frame is also sold on its own.
    fn bike_facts() -> HashMap<Uuid, ItemFacts> {
        let mut facts = HashMap::new();
        facts.insert(
            id(1),
            ItemFacts {
                demand: dec("10"),
                demand_by: NaiveDate::from_ymd_opt(2026, 12, 20),
                on_hand: dec("3"),
                bom: Some(vec![line(2, "2", "0"), line(3, "1", "0")]),
                ..ItemFacts::default()
            },
        );
        facts.insert(
            id(2),
            ItemFacts {
                on_hand: dec("4"),
                on_order: dec("2"),
                bom: Some(vec![line(4, "36", "10")]),
                ..ItemFacts::default()
            },
        );
        facts.insert(
            id(3),
            ItemFacts {
                demand: dec("5"),
                demand_by: NaiveDate::from_ymd_opt(2026, 12, 10),
                on_hand: dec("20"),
                reserved: dec("8"),
                ..ItemFacts::default()
            },
        );
        facts
    }

    #[test]
    fn nets_each_level_and_explodes_only_what_is_planned() {
        let lines = plan(bike_facts()).expect("no cycle");
        let lines = by_item(&lines);
        // Bikes: 10 wanted, 3 on hand: make 7.
        assert_eq!(lines[&id(1)].planned, dec("7"));
        assert_eq!(lines[&id(1)].action, Action::Make);
        assert_eq!(lines[&id(1)].level, 0);
        // Wheels: 14 for the bikes, 4 on hand, 2 coming: make 8.
        assert_eq!(lines[&id(2)].dependent, dec("14"));
        assert_eq!(lines[&id(2)].planned, dec("8"));
        // Frames: 5 sold + 7 for bikes = 12; 20 on hand of which 8 held elsewhere: none.
        assert_eq!(lines[&id(3)].planned, dec("0"));
        assert_eq!(lines[&id(3)].action, Action::None);
        // Spokes (no facts of their own, no BOM): 8 wheels x 36 x 1.1 = 316.8, bought.
        assert_eq!(lines[&id(4)].planned, dec("316.8"));
        assert_eq!(lines[&id(4)].action, Action::Buy);
        assert_eq!(lines[&id(4)].level, 2);
        // The bike's date travels down to what it needs.
        assert_eq!(lines[&id(4)].need_by, NaiveDate::from_ymd_opt(2026, 12, 20));
        assert_eq!(lines[&id(3)].need_by, NaiveDate::from_ymd_opt(2026, 12, 10));
    }

    #[test]
    fn a_component_used_at_two_depths_is_planned_once_after_both_parents() {
        // 1 -> 2 -> 3 and 1 -> 3: item 3 is level 2 and gets both parents' needs.
        let mut facts = HashMap::new();
        facts.insert(
            id(1),
            ItemFacts {
                demand: dec("1"),
                bom: Some(vec![line(2, "1", "0"), line(3, "1", "0")]),
                ..ItemFacts::default()
            },
        );
        facts.insert(
            id(2),
            ItemFacts {
                bom: Some(vec![line(3, "2", "0")]),
                ..ItemFacts::default()
            },
        );
        let lines = plan(facts).expect("no cycle");
        let last = lines.last().expect("three lines");
        assert_eq!((last.item_id, last.level), (id(3), 2));
        assert_eq!(last.dependent, dec("3"));
        assert_eq!(last.planned, dec("3"));
    }

    #[test]
    fn negative_stock_is_a_requirement_too() {
        let mut facts = HashMap::new();
        facts.insert(
            id(1),
            ItemFacts {
                on_hand: dec("-4"),
                ..ItemFacts::default()
            },
        );
        let lines = plan(facts).expect("no cycle");
        assert_eq!(lines[0].planned, dec("4"));
        assert_eq!(lines[0].need_by, None);
    }

    #[test]
    fn a_cycle_is_reported_not_looped_over() {
        let mut facts = HashMap::new();
        facts.insert(
            id(1),
            ItemFacts {
                demand: dec("1"),
                bom: Some(vec![line(2, "1", "0")]),
                ..ItemFacts::default()
            },
        );
        facts.insert(
            id(2),
            ItemFacts {
                bom: Some(vec![line(1, "1", "0")]),
                ..ItemFacts::default()
            },
        );
        assert_eq!(plan(facts).unwrap_err(), CycleFound(vec![id(1), id(2)]));
    }
}
