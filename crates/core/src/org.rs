//! Organisation rules that need more than one record: manager chains.

use bposhield_proto::PersonId;

/// Would making `manager` the manager of `person` close a cycle? `manager_of` gives the
/// current manager of any person. Walks up from `manager`; bounded by `limit` steps so
/// corrupted data cannot loop forever (a chain longer than `limit` counts as a cycle).
pub fn creates_cycle(
    person: PersonId,
    manager: PersonId,
    limit: usize,
    mut manager_of: impl FnMut(PersonId) -> Option<PersonId>,
) -> bool {
    let mut cur = Some(manager);
    for _ in 0..limit {
        match cur {
            None => return false,
            Some(p) if p == person => return true,
            Some(p) => cur = manager_of(p),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use uuid::Uuid;

    fn id(n: u128) -> PersonId {
        PersonId(Uuid::from_u128(n))
    }

    #[test]
    fn cycles() {
        // 1 <- 2 <- 3 (3's manager is 2, 2's manager is 1)
        let m: HashMap<_, _> = [(id(3), id(2)), (id(2), id(1))].into();
        let f = |p| m.get(&p).copied();
        assert!(creates_cycle(id(1), id(3), 100, f), "1 managed by 3 closes 1-2-3");
        assert!(creates_cycle(id(1), id(1), 100, f), "self");
        assert!(!creates_cycle(id(4), id(3), 100, f));
        assert!(!creates_cycle(id(3), id(1), 100, f));
    }
}
