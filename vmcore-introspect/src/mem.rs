//! The kernel memory the walkers read: [`Memory`] over a dump's [`vmcore_reader::Kernel`],
//! or any other source (the tests' synthetic kernels).

use crate::error::{Error, Result};

/// Byte order of the dumped kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// Little-endian (x86_64, arm64).
    Little,
    /// Big-endian (s390x, ppc64).
    Big,
}

/// Kernel virtual memory of a dumped kernel.
pub trait Memory {
    /// Reads `buf.len()` bytes at kernel virtual address `vaddr`.
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> core::result::Result<(), vmcore_reader::Error>;
    /// Byte order.
    fn byte_order(&self) -> ByteOrder;
    /// Size of a pointer in bytes (4 or 8).
    fn pointer_size(&self) -> u64;
}

impl Memory for vmcore_reader::Kernel<'_> {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> core::result::Result<(), vmcore_reader::Error> {
        self.read_virt(vaddr, buf)
    }
    fn byte_order(&self) -> ByteOrder {
        match self.endian() {
            elfcorehdr::Endian::Little => ByteOrder::Little,
            elfcorehdr::Endian::Big => ByteOrder::Big,
        }
    }
    fn pointer_size(&self) -> u64 {
        vmcore_reader::Kernel::pointer_size(self)
    }
}

/// Typed reads on top of [`Memory`], each naming what it reads in its error.
pub(crate) trait MemoryExt: Memory {
    fn bytes(&self, what: &'static str, vaddr: u64, buf: &mut [u8]) -> Result<()> {
        self.read(vaddr, buf).map_err(|source| Error::Read {
            what,
            vaddr,
            len: u64::try_from(buf.len()).unwrap_or(u64::MAX),
            source,
        })
    }

    fn uint(&self, what: &'static str, vaddr: u64, size: usize) -> Result<u64> {
        let mut b = [0u8; 8];
        let n = size.min(8);
        self.bytes(what, vaddr, &mut b[..n])?;
        Ok(decode_uint(self.byte_order(), &b[..n]))
    }

    fn u32(&self, what: &'static str, vaddr: u64) -> Result<u32> {
        let mut b = [0u8; 4];
        self.bytes(what, vaddr, &mut b)?;
        Ok(match self.byte_order() {
            ByteOrder::Little => u32::from_le_bytes(b),
            ByteOrder::Big => u32::from_be_bytes(b),
        })
    }

    fn pointer(&self, what: &'static str, vaddr: u64) -> Result<u64> {
        let n = if self.pointer_size() == 4 { 4 } else { 8 };
        self.uint(what, vaddr, n)
    }
}

impl<M: Memory + ?Sized> MemoryExt for M {}

/// An unsigned integer of up to 8 bytes in `order`.
pub(crate) fn decode_uint(order: ByteOrder, b: &[u8]) -> u64 {
    let b = &b[..b.len().min(8)];
    let mut v = 0u64;
    match order {
        ByteOrder::Little => {
            for &x in b.iter().rev() {
                v = (v << 8) | u64::from(x);
            }
        }
        ByteOrder::Big => {
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
        }
    }
    v
}

/// A flat byte image of kernel memory at `base`, for tests and fuzzing: reads outside it
/// fail with [`vmcore_reader::Error::NotInDump`] naming the address.
#[derive(Debug, Clone)]
pub struct FlatMemory {
    /// Virtual address of `bytes[0]`.
    pub base: u64,
    /// The memory.
    pub bytes: Vec<u8>,
    /// Byte order.
    pub order: ByteOrder,
}

impl Memory for FlatMemory {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> core::result::Result<(), vmcore_reader::Error> {
        let miss = || vmcore_reader::Error::NotInDump { paddr: vaddr };
        let start = vaddr.checked_sub(self.base).ok_or_else(miss)?;
        let start = usize::try_from(start).map_err(|_| miss())?;
        let end = start.checked_add(buf.len()).ok_or_else(miss)?;
        let src = self.bytes.get(start..end).ok_or_else(miss)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn byte_order(&self) -> ByteOrder {
        self.order
    }
    fn pointer_size(&self) -> u64 {
        8
    }
}
