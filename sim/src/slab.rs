//! A vector with slot reuse: ids stay small and stable, and nothing is allocated once warm.

#[derive(Debug, Clone)]
pub struct Slab<T> {
    pub v: Vec<T>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { v: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    pub fn alloc(&mut self, x: T) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.v[id as usize] = x;
                id
            }
            None => {
                self.v.push(x);
                (self.v.len() - 1) as u32
            }
        }
    }

    /// Marks a slot reusable; its value stays until the slot is taken again.
    pub fn release(&mut self, id: u32) {
        self.free.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused() {
        let mut s = Slab::default();
        let a = s.alloc('a');
        let b = s.alloc('b');
        s.release(a);
        assert_eq!(s.alloc('c'), a);
        assert_eq!(s.v, vec!['c', 'b']);
        assert_eq!(b, 1);
    }
}
