//! Payload protection: the recipient id is enciphered with a keyed 64-bit Feistel network
//! (so neighbouring ids get unrelated codewords, which collusion scoring relies on), a
//! 32-bit keyed check is appended, and the 96 bits are protected by a rate-1/3,
//! constraint-length-7 convolutional code decoded with a soft-decision Viterbi decoder.

use crate::key::WatermarkKey;

/// Payload bits before coding: 64 enciphered id bits and a 32-bit keyed check.
pub(crate) const MESSAGE_BITS: usize = 96;
const CONSTRAINT: usize = 7;
const TAIL_BITS: usize = CONSTRAINT - 1;
/// Industry-standard K = 7, rate 1/3 generators (octal 133, 171, 165).
const GENERATORS: [u32; 3] = [0o133, 0o171, 0o165];
/// Code bits per cycle.
pub(crate) const CODE_BITS: usize = (MESSAGE_BITS + TAIL_BITS) * GENERATORS.len();
const STATES: usize = 1 << (CONSTRAINT - 1);
const FEISTEL_ROUNDS: u8 = 4;

/// What a watermark carries: the id of one share recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Payload {
    pub id: u64,
}

impl Payload {
    pub const fn new(id: u64) -> Self {
        Self { id }
    }
}

/// The code bits embedded for `payload` under `key`.
pub(crate) fn encode(key: &WatermarkKey, payload: Payload) -> [bool; CODE_BITS] {
    let cipher = encipher(key, payload.id);
    let check = check_word(key, cipher);
    let mut message = [false; MESSAGE_BITS];
    for (i, bit) in message.iter_mut().enumerate() {
        *bit = if i < 64 {
            cipher >> (63 - i) & 1 == 1
        } else {
            check >> (95 - i) & 1 == 1
        };
    }
    convolve(&message)
}

/// Recovers the payload from soft code bits (positive = 1), or `None` when the best
/// codeword fails the keyed check.
pub(crate) fn decode(key: &WatermarkKey, soft: &[f32; CODE_BITS]) -> Option<Payload> {
    let message = viterbi(soft);
    let mut cipher = 0u64;
    let mut check = 0u32;
    for (i, &bit) in message.iter().enumerate() {
        if i < 64 {
            cipher = cipher << 1 | u64::from(bit);
        } else {
            check = check << 1 | u32::from(bit);
        }
    }
    (check_word(key, cipher) == check).then(|| Payload::new(decipher(key, cipher)))
}

fn check_word(key: &WatermarkKey, cipher: u64) -> u32 {
    let mac = key.prf(b"check", &cipher.to_be_bytes());
    u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]])
}

fn round_function(key: &WatermarkKey, round: u8, half: u32) -> u32 {
    let mut input = [0u8; 5];
    input[0] = round;
    input[1..].copy_from_slice(&half.to_be_bytes());
    let mac = key.prf(b"feistel", &input);
    u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]])
}

fn encipher(key: &WatermarkKey, id: u64) -> u64 {
    let (mut left, mut right) = ((id >> 32) as u32, id as u32);
    for round in 0..FEISTEL_ROUNDS {
        (left, right) = (right, left ^ round_function(key, round, right));
    }
    u64::from(left) << 32 | u64::from(right)
}

fn decipher(key: &WatermarkKey, cipher: u64) -> u64 {
    let (mut left, mut right) = ((cipher >> 32) as u32, cipher as u32);
    for round in (0..FEISTEL_ROUNDS).rev() {
        (left, right) = (right ^ round_function(key, round, left), left);
    }
    u64::from(left) << 32 | u64::from(right)
}

fn parity(x: u32) -> bool {
    x.count_ones() % 2 == 1
}

/// Output bits for one input bit given the encoder register (newest bit in the top position).
fn outputs(register: u32) -> [bool; GENERATORS.len()] {
    GENERATORS.map(|g| parity(register & g))
}

fn convolve(message: &[bool; MESSAGE_BITS]) -> [bool; CODE_BITS] {
    let mut code = [false; CODE_BITS];
    let mut state = 0u32;
    let inputs = message.iter().copied().chain([false; TAIL_BITS]);
    for (step, bit) in inputs.enumerate() {
        let register = u32::from(bit) << (CONSTRAINT - 1) | state;
        for (j, out) in outputs(register).into_iter().enumerate() {
            code[step * GENERATORS.len() + j] = out;
        }
        state = register >> 1;
    }
    code
}

/// Maximum-correlation path through the trellis, which ends in state zero thanks to the tail.
fn viterbi(soft: &[f32; CODE_BITS]) -> [bool; MESSAGE_BITS] {
    const STEPS: usize = MESSAGE_BITS + TAIL_BITS;
    let mut metric = [f32::NEG_INFINITY; STATES];
    metric[0] = 0.0;
    // Survivor bit and predecessor per step and state.
    let mut came_from = vec![[0u8; STATES]; STEPS];
    for step in 0..STEPS {
        let received = &soft[step * GENERATORS.len()..(step + 1) * GENERATORS.len()];
        let mut next = [f32::NEG_INFINITY; STATES];
        let inputs: &[u32] = if step < MESSAGE_BITS { &[0, 1] } else { &[0] };
        for (state, &current) in metric.iter().enumerate() {
            if current == f32::NEG_INFINITY {
                continue;
            }
            for &bit in inputs {
                let register = bit << (CONSTRAINT - 1) | state as u32;
                let gain: f32 = outputs(register)
                    .iter()
                    .zip(received)
                    .map(|(&out, &r)| if out { r } else { -r })
                    .sum();
                let target = (register >> 1) as usize;
                if current + gain > next[target] {
                    next[target] = current + gain;
                    came_from[step][target] = state as u8;
                }
            }
        }
        metric = next;
    }
    let mut message = [false; MESSAGE_BITS];
    let mut state = 0usize;
    for step in (0..STEPS).rev() {
        // The newest input bit is the top bit of the register, i.e. of the state it led to.
        if step < MESSAGE_BITS {
            message[step] = state >> (CONSTRAINT - 2) & 1 == 1;
        }
        state = usize::from(came_from[step][state]);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> WatermarkKey {
        WatermarkKey::from_bytes([7; 32])
    }

    fn to_soft(code: &[bool; CODE_BITS]) -> [f32; CODE_BITS] {
        code.map(|b| if b { 1.0 } else { -1.0 })
    }

    #[test]
    fn feistel_round_trips() {
        for id in [0, 1, 42, u64::MAX, 0xdead_beef_0000_0001] {
            assert_eq!(decipher(&key(), encipher(&key(), id)), id);
        }
    }

    #[test]
    fn clean_codeword_decodes() {
        let payload = Payload::new(0x0123_4567_89ab_cdef);
        let soft = to_soft(&encode(&key(), payload));
        assert_eq!(decode(&key(), &soft), Some(payload));
    }

    #[test]
    fn corrects_scattered_errors() {
        let payload = Payload::new(77);
        let mut soft = to_soft(&encode(&key(), payload));
        for i in (0..CODE_BITS).step_by(9) {
            soft[i] = -soft[i];
        }
        assert_eq!(decode(&key(), &soft), Some(payload));
    }

    #[test]
    fn check_rejects_corrupted_payload() {
        // Flip one message bit and re-encode: a valid codeword whose keyed check no longer
        // matches, so the decoder must refuse it rather than return a wrong recipient.
        let payload = Payload::new(5);
        let cipher = encipher(&key(), payload.id) ^ 1 << 20;
        let check = check_word(&key(), encipher(&key(), payload.id));
        let mut message = [false; MESSAGE_BITS];
        for (i, bit) in message.iter_mut().enumerate() {
            *bit = if i < 64 {
                cipher >> (63 - i) & 1 == 1
            } else {
                check >> (95 - i) & 1 == 1
            };
        }
        assert_eq!(decode(&key(), &to_soft(&convolve(&message))), None);
    }

    #[test]
    fn wrong_key_does_not_decode() {
        let soft = to_soft(&encode(&key(), Payload::new(9)));
        assert_eq!(decode(&WatermarkKey::from_bytes([8; 32]), &soft), None);
    }
}
