//! FNV-1a, the stores' one non-cryptographic hash of a session id.

/// The 64-bit FNV-1a hash of `bytes`.
///
/// Stable across processes, builds and platforms, which is why the file store
/// can use it to pick an id's lock file (a protocol between processes) and the
/// memory store to pick an id's shard. It spreads ids; it does not resist an
/// attacker, so it must never key a map on its own.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn matches_the_reference_values() {
        // From the FNV reference test suite (Landon Curt Noll, `test_fnv.c`).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
