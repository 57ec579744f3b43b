//! Post ids: UUID-v4-formatted strings drawn from the client's seeded random generator.

/// A random UUID version 4 (RFC 9562 layout: version nibble 4, variant bits `10`) in its
/// lowercase hyphenated form, for example `"6f1c2b9e-8a4d-4f3e-9b2a-0c1d2e3f4a5b"`.
///
/// Uniqueness relies on the generator's seed being unique per client run; the caller
/// seeds it from a good source (time and process, or `crypto.getRandomValues`).
pub fn uuid_v4(rng: &mut fastrand::Rng) -> String {
    let mut bytes = rng.u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn has_the_uuid_v4_shape() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..100 {
            let id = uuid_v4(&mut rng);
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
            assert_eq!(id, id.to_lowercase());
            assert!(tuitalk_protocol::name::validate_post_id(&id).is_ok());
        }
    }

    #[test]
    fn ids_are_unique_and_deterministic_per_seed() {
        let mut rng = fastrand::Rng::with_seed(5);
        let ids: HashSet<String> = (0..10_000).map(|_| uuid_v4(&mut rng)).collect();
        assert_eq!(ids.len(), 10_000);
        let mut a = fastrand::Rng::with_seed(11);
        let mut b = fastrand::Rng::with_seed(11);
        assert_eq!(uuid_v4(&mut a), uuid_v4(&mut b));
    }
}
