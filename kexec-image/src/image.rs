//! Probing and parsing any kernel image into a [`KernelImage`], its list of
//! facts for display, and unwrapping wrappers (compressed files, EFI zboot,
//! UKI) down to the kernel a loader hands to the kernel.

use std::borrow::Cow;
use std::fmt;

use crate::arch::{Arch, Endian};
use crate::arm::ArmZImage;
use crate::arm64::Arm64Image;
use crate::bytes::{head, len64};
use crate::compress::{self, Compression};
use crate::elf::{ElfImage, PT_LOAD};
use crate::error::{Error, Result};
use crate::pe::{PeImage, Zboot};
use crate::riscv::RiscvImage;
use crate::s390::S390Image;
use crate::x86::{self, BzImage};

/// The format of an image file.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// x86 bzImage (64- or 32-bit).
    BzImage,
    /// arm64 `Image`.
    Arm64Image,
    /// RISC-V `Image`.
    RiscvImage,
    /// ELF `vmlinux`.
    Elf,
    /// s390x image.
    S390Image,
    /// 32-bit ARM `zImage`.
    ArmZImage,
    /// EFI zboot compressed kernel.
    Zboot,
    /// Unified Kernel Image.
    Uki,
    /// Another PE/EFI executable.
    PeEfi,
    /// A compressed file wrapping another image.
    Compressed(Compression),
}

impl Format {
    /// Short name used in facts (`bzImage`, `arm64-Image`, ...).
    pub fn name(self) -> String {
        match self {
            Format::BzImage => "bzImage".into(),
            Format::Arm64Image => "arm64-Image".into(),
            Format::RiscvImage => "riscv-Image".into(),
            Format::Elf => "elf".into(),
            Format::S390Image => "s390-image".into(),
            Format::ArmZImage => "arm-zImage".into(),
            Format::Zboot => "efi-zboot".into(),
            Format::Uki => "uki".into(),
            Format::PeEfi => "pe-efi".into(),
            Format::Compressed(c) => format!("{c}-compressed"),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The format-specific header of a parsed image.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Header {
    /// x86 bzImage.
    BzImage(BzImage),
    /// arm64 Image.
    Arm64(Arm64Image),
    /// RISC-V Image.
    Riscv(RiscvImage),
    /// ELF vmlinux.
    Elf(ElfImage),
    /// s390x image.
    S390(S390Image),
    /// ARM zImage.
    ArmZImage(ArmZImage),
    /// EFI zboot (with its PE headers when they parse).
    Zboot(Zboot, Option<PeImage>),
    /// UKI.
    Uki(PeImage),
    /// Other PE/EFI image.
    Pe(PeImage),
    /// A compressed wrapper.
    Compressed(Compression),
}

/// How far [`KernelImage::parse_with`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Decompress payloads and wrappers to parse what is inside.
    pub decompress: bool,
    /// Largest decompressed output accepted, in bytes.
    pub max_decompressed: u64,
    /// How many wrapper levels to follow.
    pub max_depth: u32,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            decompress: true,
            max_decompressed: 1 << 30,
            max_depth: 4,
        }
    }
}

impl ParseOptions {
    /// Headers only: nothing is decompressed.
    pub fn headers_only() -> Self {
        ParseOptions {
            decompress: false,
            ..Self::default()
        }
    }
}

/// A probed and parsed kernel image.
#[derive(Debug)]
pub struct KernelImage {
    /// Size of the input in bytes.
    pub file_size: u64,
    /// The CPU architecture, when the format tells it.
    pub arch: Option<Arch>,
    /// Byte order, when the format tells it.
    pub endian: Option<Endian>,
    /// The kernel version string, when the image carries one in its headers.
    pub version: Option<String>,
    /// The format-specific header.
    pub header: Header,
    /// What the wrapper or payload contains, when decompression was asked for and succeeded.
    pub inner: Option<Box<KernelImage>>,
    /// Why the inner image could not be read, when it could not.
    pub inner_error: Option<Error>,
    /// The PE headers of an EFI stub carried by a bzImage, arm64 or RISC-V
    /// Image (whether it is signed tells if `kexec_file_load` can verify it).
    pub efi_stub: Option<PeImage>,
}

/// A fact's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactValue {
    /// Text.
    Text(String),
    /// A count or size (decimal).
    Int(u64),
    /// An address, offset or bit set (hex).
    Hex(u64),
    /// A yes/no flag.
    Bool(bool),
}

impl fmt::Display for FactValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactValue::Text(s) => f.write_str(s),
            FactValue::Int(v) => write!(f, "{v}"),
            FactValue::Hex(v) => write!(f, "{v:#x}"),
            FactValue::Bool(b) => f.write_str(if *b { "yes" } else { "no" }),
        }
    }
}

/// One named fact about an image, for text or JSON output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Dotted name, e.g. `x86.init_size`; facts of an inner image start with `inner.`.
    pub name: String,
    /// The value.
    pub value: FactValue,
}

/// The format whose signature `data` carries, without parsing further.
pub fn probe(data: &[u8]) -> Option<Format> {
    if Zboot::probe(data) {
        Some(Format::Zboot)
    } else if BzImage::probe(data) {
        Some(Format::BzImage)
    } else if Arm64Image::probe(data) {
        Some(Format::Arm64Image)
    } else if RiscvImage::probe(data) {
        Some(Format::RiscvImage)
    } else if ElfImage::probe(data) {
        Some(Format::Elf)
    } else if S390Image::probe(data) {
        Some(Format::S390Image)
    } else if ArmZImage::probe(data) {
        Some(Format::ArmZImage)
    } else if data.starts_with(b"MZ") {
        match PeImage::parse(data) {
            Ok(pe) if pe.is_uki() => Some(Format::Uki),
            Ok(_) => Some(Format::PeEfi),
            Err(_) => None,
        }
    } else {
        compress::sniff(data).map(Format::Compressed)
    }
}

/// Finds "Linux version " and returns the rest of that line (bounded scan).
fn find_linux_version(data: &[u8]) -> Option<String> {
    const NEEDLE: &[u8] = b"Linux version ";
    let pos = data.windows(NEEDLE.len()).position(|w| w == NEEDLE)?;
    let rest = &data[pos + NEEDLE.len()..];
    let end = rest
        .iter()
        .take(256)
        .position(|&b| b == b'\n' || b == 0 || !(0x20..0x7f).contains(&b))?;
    let s = String::from_utf8_lossy(&rest[..end]).into_owned();
    (!s.is_empty()).then_some(s)
}

impl KernelImage {
    /// Probes and parses `data` with the default options (decompressing payloads).
    pub fn parse(data: &[u8]) -> Result<KernelImage> {
        Self::parse_with(data, &ParseOptions::default())
    }

    /// Probes and parses `data`.
    pub fn parse_with(data: &[u8], opts: &ParseOptions) -> Result<KernelImage> {
        Self::parse_depth(data, opts, 0)
    }

    fn parse_depth(data: &[u8], opts: &ParseOptions, depth: u32) -> Result<KernelImage> {
        if depth > opts.max_depth {
            return Err(Error::TooDeep {
                limit: opts.max_depth,
            });
        }
        let format = probe(data).ok_or_else(|| Error::Unrecognized { first: head(data) })?;
        let mut img = KernelImage {
            file_size: len64(data),
            arch: None,
            endian: None,
            version: None,
            header: Header::Compressed(Compression::Gzip),
            inner: None,
            inner_error: None,
            efi_stub: None,
        };
        if matches!(
            format,
            Format::BzImage | Format::Arm64Image | Format::RiscvImage
        ) && data.starts_with(b"MZ")
        {
            img.efi_stub = PeImage::parse(data).ok();
        }
        let mut inner_bytes: Option<Result<Vec<u8>>> = None;
        let mut inner_slice: Option<&[u8]> = None;
        match format {
            Format::BzImage => {
                let b = BzImage::parse(data)?;
                img.arch = Some(if b.is_64bit() {
                    Arch::X86_64
                } else {
                    Arch::X86
                });
                img.endian = Some(Endian::Little);
                img.version = b.version.clone();
                if opts.decompress && b.payload.is_some_and(|p| p.compression.is_some()) {
                    inner_bytes = Some(b.decompress_payload(data, opts.max_decompressed));
                }
                img.header = Header::BzImage(b);
            }
            Format::Arm64Image => {
                let a = Arm64Image::parse(data)?;
                img.arch = Some(Arch::Aarch64);
                img.endian = Some(a.endian);
                img.version = find_linux_version(data);
                img.header = Header::Arm64(a);
            }
            Format::RiscvImage => {
                let r = RiscvImage::parse(data)?;
                img.arch = Some(Arch::Riscv64);
                img.endian = Some(r.endian);
                img.version = find_linux_version(data);
                img.header = Header::Riscv(r);
            }
            Format::Elf => {
                let e = ElfImage::parse(data)?;
                img.arch = Some(e.arch);
                img.endian = Some(e.endian);
                img.version = find_linux_version(data);
                img.header = Header::Elf(e);
            }
            Format::S390Image => {
                let s = S390Image::parse(data)?;
                img.arch = Some(Arch::S390x);
                img.endian = Some(Endian::Big);
                img.version = s.version.clone().or_else(|| find_linux_version(data));
                img.header = Header::S390(s);
            }
            Format::ArmZImage => {
                let z = ArmZImage::parse(data)?;
                img.arch = Some(Arch::Arm);
                img.endian = Some(z.endian);
                img.header = Header::ArmZImage(z);
            }
            Format::Zboot => {
                let z = Zboot::parse(data)?;
                let pe = PeImage::parse(data).ok();
                img.arch = pe.as_ref().and_then(|p| p.arch);
                img.endian = Some(Endian::Little);
                if opts.decompress {
                    inner_bytes = Some(match z.compression {
                        Some(c) => z.payload(data).and_then(|p| {
                            compress::decompress(
                                p,
                                c,
                                opts.max_decompressed,
                                u64::from(z.payload_offset),
                            )
                        }),
                        None => Err(Error::InvalidField {
                            what: "zboot compression type",
                            offset: 0x18,
                            value: 0,
                            reason: "unknown codec name",
                        }),
                    });
                }
                img.header = Header::Zboot(z, pe);
            }
            Format::Uki | Format::PeEfi => {
                let pe = PeImage::parse(data)?;
                img.arch = pe.arch;
                img.endian = Some(Endian::Little);
                if format == Format::Uki {
                    if let Some(s) = pe.section(".uname") {
                        img.version = s
                            .data(data)
                            .ok()
                            .map(|b| String::from_utf8_lossy(b).trim().to_owned());
                    }
                    match pe.section(".linux").map(|s| s.data(data)) {
                        Some(Ok(k)) => inner_slice = Some(k),
                        Some(Err(e)) => inner_bytes = Some(Err(e)),
                        None => {}
                    }
                    img.header = Header::Uki(pe);
                } else {
                    img.header = Header::Pe(pe);
                }
            }
            Format::Compressed(c) => {
                img.header = Header::Compressed(c);
                if opts.decompress {
                    let out = compress::decompress(data, c, opts.max_decompressed, 0)?;
                    let inner = Self::parse_depth(&out, opts, depth + 1)?;
                    img.arch = inner.arch;
                    img.endian = inner.endian;
                    img.version = inner.version.clone();
                    img.inner = Some(Box::new(inner));
                }
                return Ok(img);
            }
        }
        let parsed = match (inner_slice, inner_bytes) {
            (Some(s), _) => Some(Self::parse_depth(s, opts, depth + 1)),
            (None, Some(Ok(v))) => Some(Self::parse_depth(&v, opts, depth + 1)),
            (None, Some(Err(e))) => Some(Err(e)),
            (None, None) => None,
        };
        match parsed {
            Some(Ok(inner)) => {
                if img.version.is_none() {
                    img.version = inner.version.clone();
                }
                if img.arch.is_none() {
                    img.arch = inner.arch;
                }
                img.inner = Some(Box::new(inner));
            }
            Some(Err(e)) => img.inner_error = Some(e),
            None => {}
        }
        Ok(img)
    }

    /// The format.
    pub fn format(&self) -> Format {
        match &self.header {
            Header::BzImage(_) => Format::BzImage,
            Header::Arm64(_) => Format::Arm64Image,
            Header::Riscv(_) => Format::RiscvImage,
            Header::Elf(_) => Format::Elf,
            Header::S390(_) => Format::S390Image,
            Header::ArmZImage(_) => Format::ArmZImage,
            Header::Zboot(..) => Format::Zboot,
            Header::Uki(_) => Format::Uki,
            Header::Pe(_) => Format::PeEfi,
            Header::Compressed(c) => Format::Compressed(*c),
        }
    }

    /// Every fact about the image as (name, value) pairs, outer image first,
    /// then the inner image's facts prefixed with `inner.`.
    pub fn facts(&self) -> Vec<Fact> {
        let mut out = Vec::new();
        self.push_facts("", &mut out);
        out
    }

    fn push_facts(&self, prefix: &str, out: &mut Vec<Fact>) {
        let mut f = |name: &str, value: FactValue| {
            out.push(Fact {
                name: format!("{prefix}{name}"),
                value,
            })
        };
        use FactValue::{Bool, Hex, Int, Text};
        f("format", Text(self.format().name()));
        if let Some(a) = self.arch {
            f("arch", Text(a.name()));
        }
        if let Some(e) = self.endian {
            f("endian", Text(e.to_string()));
        }
        f("file_size", Int(self.file_size));
        if let Some(v) = &self.version {
            f("version", Text(v.clone()));
        }
        match &self.header {
            Header::BzImage(b) => {
                let h = &b.header;
                let xlf = h.xloadflags.get();
                f(
                    "x86.protocol",
                    Text(format!("{}.{:02}", b.protocol.0, b.protocol.1)),
                );
                f("x86.setup_sects", Int(u64::from(b.setup_sects)));
                f("x86.kernel_offset", Hex(b.kernel_offset));
                f("x86.kernel_size", Int(b.kernel_size));
                f("x86.loadflags", Hex(u64::from(h.loadflags)));
                f("x86.loaded_high", Bool(h.loadflags & x86::LOADED_HIGH != 0));
                f("x86.xloadflags", Hex(u64::from(xlf)));
                f("x86.kernel_64", Bool(xlf & x86::XLF_KERNEL_64 != 0));
                f(
                    "x86.can_be_loaded_above_4g",
                    Bool(xlf & x86::XLF_CAN_BE_LOADED_ABOVE_4G != 0),
                );
                f(
                    "x86.efi_handover_32",
                    Bool(xlf & x86::XLF_EFI_HANDOVER_32 != 0),
                );
                f(
                    "x86.efi_handover_64",
                    Bool(xlf & x86::XLF_EFI_HANDOVER_64 != 0),
                );
                f("x86.efi_kexec", Bool(xlf & x86::XLF_EFI_KEXEC != 0));
                f("x86.5level", Bool(xlf & x86::XLF_5LEVEL != 0));
                f("x86.relocatable", Bool(b.relocatable()));
                f(
                    "x86.kernel_alignment",
                    Hex(u64::from(h.kernel_alignment.get())),
                );
                f("x86.min_alignment", Int(u64::from(h.min_alignment)));
                f("x86.pref_address", Hex(h.pref_address.get()));
                f("x86.init_size", Int(u64::from(h.init_size.get())));
                f("x86.cmdline_size", Int(u64::from(h.cmdline_size.get())));
                f(
                    "x86.initrd_addr_max",
                    Hex(u64::from(h.initrd_addr_max.get())),
                );
                if let Some(ho) = b.handover {
                    f("x86.handover_offset", Hex(u64::from(ho)));
                }
                if let Some(p) = b.payload {
                    f("x86.payload_offset", Hex(p.offset));
                    f("x86.payload_length", Int(p.length));
                    f(
                        "x86.payload_compression",
                        Text(
                            p.compression
                                .map_or_else(|| "unknown".to_owned(), |c| c.name().to_owned()),
                        ),
                    );
                }
                f("x86.efi_stub", Bool(b.efi_stub));
                f(
                    "x86.kexec_file_load",
                    Text(
                        b.kexec_file_refusal()
                            .map_or_else(|| "accepted".to_owned(), |r| format!("refused: {r}")),
                    ),
                );
            }
            Header::Arm64(a) => {
                f("arm64.text_offset", Hex(a.text_offset));
                f("arm64.image_size", Int(a.image_size));
                f("arm64.flags", Hex(a.header.flags.get()));
                f(
                    "arm64.page_size",
                    a.page_size.bytes().map_or(Text("unspecified".into()), Int),
                );
                f("arm64.place_anywhere", Bool(a.place_anywhere));
                f("arm64.efi_stub", Bool(a.pe_offset.is_some()));
            }
            Header::Riscv(r) => {
                f("riscv.text_offset", Hex(r.text_offset));
                f("riscv.image_size", Int(r.image_size));
                f("riscv.flags", Hex(r.header.flags.get()));
                f(
                    "riscv.header_version",
                    Text(format!("{}.{}", r.version.0, r.version.1)),
                );
                f("riscv.magic2", Bool(r.has_magic2));
                f("riscv.efi_stub", Bool(r.pe_offset.is_some()));
            }
            Header::Elf(e) => {
                f("elf.class", Int(if e.is64 { 64 } else { 32 }));
                f("elf.type", Int(u64::from(e.elf_type)));
                f("elf.machine", Int(u64::from(e.machine)));
                f("elf.flags", Hex(u64::from(e.flags)));
                f("elf.entry", Hex(e.entry));
                let loads = e
                    .program_headers
                    .iter()
                    .filter(|p| p.kind == PT_LOAD)
                    .count();
                f("elf.program_headers", Int(e.program_headers.len() as u64));
                f("elf.load_segments", Int(loads as u64));
                if let Some((lo, span)) = e.load_span() {
                    f("elf.load_paddr", Hex(lo));
                    f("elf.load_span", Int(span));
                }
            }
            Header::S390(s) => {
                f("s390.ipl_psw", Hex(s.ipl_psw));
                f("s390.command_line_limit", Int(s.command_line_limit));
                f("s390.command_line", Text(s.command_line.clone()));
                f("s390.initrd_start", Hex(s.parmarea.initrd_start.get()));
                f("s390.initrd_size", Int(s.parmarea.initrd_size.get()));
                f("s390.oldmem_base", Hex(s.parmarea.oldmem_base.get()));
                f("s390.oldmem_size", Int(s.parmarea.oldmem_size.get()));
            }
            Header::ArmZImage(z) => {
                f("zimage.start", Hex(u64::from(z.start)));
                f("zimage.end", Hex(u64::from(z.end)));
                if let Some(k) = z.kernel_size {
                    f("zimage.kernel_size", Int(u64::from(k)));
                }
                if let Some(b) = z.kernel_bss_size {
                    f("zimage.kernel_bss_size", Int(u64::from(b)));
                }
            }
            Header::Zboot(z, pe) => {
                f("zboot.compression", Text(z.compression_name.clone()));
                f("zboot.payload_offset", Hex(u64::from(z.payload_offset)));
                f("zboot.payload_size", Int(u64::from(z.payload_size)));
                if let Some(pe) = pe {
                    f("pe.machine", Hex(u64::from(pe.machine)));
                    f("pe.signed", Bool(pe.certificate_table.is_some()));
                }
            }
            Header::Uki(pe) | Header::Pe(pe) => {
                f("pe.machine", Hex(u64::from(pe.machine)));
                f("pe.pe32_plus", Bool(pe.pe32_plus));
                f("pe.subsystem", Int(u64::from(pe.subsystem)));
                f("pe.signed", Bool(pe.certificate_table.is_some()));
                let names: Vec<&str> = pe.sections.iter().map(|s| s.name.as_str()).collect();
                f("pe.sections", Text(names.join(",")));
                for name in [".linux", ".initrd", ".cmdline", ".osrel", ".uname", ".dtb"] {
                    if let Some(s) = pe.section(name) {
                        f(
                            &format!("uki.{}_size", &name[1..]),
                            Int(u64::from(s.size())),
                        );
                    }
                }
            }
            Header::Compressed(c) => f("compression", Text(c.name().to_owned())),
        }
        if let Some(pe) = &self.efi_stub {
            f("efi_stub.machine", Hex(u64::from(pe.machine)));
            f("efi_stub.signed", Bool(pe.certificate_table.is_some()));
            if let Some((_, size)) = pe.certificate_table {
                f("efi_stub.certificate_table_size", Int(u64::from(size)));
            }
        }
        if let Some(e) = &self.inner_error {
            f("inner_error", Text(e.to_string()));
        }
        if let Some(inner) = &self.inner {
            inner.push_facts(&format!("{prefix}inner."), out);
        }
    }
}

/// The kernel a loader passes on, with what was done to get it.
#[derive(Debug)]
pub struct Loadable<'a> {
    /// The kernel bytes for the syscall.
    pub kernel: Cow<'a, [u8]>,
    /// Their format.
    pub format: Format,
    /// The architecture.
    pub arch: Option<Arch>,
    /// Steps taken, e.g. `"gzip-decompressed"`, `"extracted .linux from UKI"`.
    pub steps: Vec<String>,
    /// An initrd embedded in a UKI.
    pub embedded_initrd: Option<Cow<'a, [u8]>>,
    /// A command line embedded in a UKI.
    pub embedded_cmdline: Option<String>,
}

/// Unwraps compressed files, EFI zboot and UKIs down to the kernel image the
/// running kernel's kexec loader accepts (kexec-tools does the same before
/// `kexec_file_load` on arm64, riscv and loongarch).
pub fn loadable_kernel<'a>(data: &'a [u8], opts: &ParseOptions) -> Result<Loadable<'a>> {
    let mut cur: Cow<'a, [u8]> = Cow::Borrowed(data);
    let mut steps = Vec::new();
    let mut embedded_initrd = None;
    let mut embedded_cmdline = None;
    for _ in 0..=opts.max_depth {
        let format = probe(&cur).ok_or_else(|| Error::Unrecognized { first: head(&cur) })?;
        let next: Cow<'a, [u8]> = match format {
            Format::Compressed(c) => {
                steps.push(format!("{c}-decompressed"));
                Cow::Owned(compress::decompress(&cur, c, opts.max_decompressed, 0)?)
            }
            Format::Zboot => {
                let z = Zboot::parse(&cur)?;
                let c = z.compression.ok_or(Error::InvalidField {
                    what: "zboot compression type",
                    offset: 0x18,
                    value: 0,
                    reason: "unknown codec name",
                })?;
                steps.push(format!("zboot {c} payload decompressed"));
                let p = z.payload(&cur)?;
                Cow::Owned(compress::decompress(
                    p,
                    c,
                    opts.max_decompressed,
                    u64::from(z.payload_offset),
                )?)
            }
            Format::Uki => {
                let pe = PeImage::parse(&cur)?;
                steps.push("extracted .linux from UKI".to_owned());
                let section = |name: &str| -> Result<Option<Vec<u8>>> {
                    pe.section(name)
                        .map(|s| s.data(&cur).map(<[u8]>::to_vec))
                        .transpose()
                };
                if let Some(i) = section(".initrd")? {
                    embedded_initrd = Some(Cow::Owned(i));
                }
                if let Some(c) = section(".cmdline")? {
                    let text = String::from_utf8_lossy(&c);
                    embedded_cmdline = Some(text.trim_end_matches(['\0', '\n']).to_owned());
                }
                let linux = section(".linux")?.unwrap_or_default();
                Cow::Owned(linux)
            }
            _ => {
                let arch = KernelImage::parse_with(&cur, &ParseOptions::headers_only())?.arch;
                return Ok(Loadable {
                    kernel: cur,
                    format,
                    arch,
                    steps,
                    embedded_initrd,
                    embedded_cmdline,
                });
            }
        };
        cur = next;
    }
    Err(Error::TooDeep {
        limit: opts.max_depth,
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::cast_possible_truncation,
        reason = "the test builders write small constants into header fields"
    )]
    use super::*;
    use crate::testutil::{gzip, xz, zstd};
    use proptest::prelude::*;

    fn fact<'a>(facts: &'a [Fact], name: &str) -> &'a FactValue {
        &facts
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no fact {name}"))
            .value
    }

    #[test]
    fn bzimage_with_elf_payload() {
        let elf = crate::elf::tests::build(true, false, 62, 4096);
        let img = crate::x86::tests::build(&xz_with_size(&elf), "6.1.0-x (b@h) #1");
        let k = KernelImage::parse(&img).unwrap();
        assert_eq!(k.format(), Format::BzImage);
        assert_eq!(k.arch, Some(Arch::X86_64));
        let inner = k.inner.as_ref().expect("payload parsed");
        assert_eq!(inner.format(), Format::Elf);
        let f = k.facts();
        assert_eq!(fact(&f, "x86.protocol"), &FactValue::Text("2.15".into()));
        assert_eq!(
            fact(&f, "x86.payload_compression"),
            &FactValue::Text("xz".into())
        );
        assert_eq!(
            fact(&f, "x86.kexec_file_load"),
            &FactValue::Text("accepted".into())
        );
        assert_eq!(fact(&f, "inner.elf.machine"), &FactValue::Int(62));
        assert_eq!(
            fact(&f, "version"),
            &FactValue::Text("6.1.0-x (b@h) #1".into())
        );
        let headers = KernelImage::parse_with(&img, &ParseOptions::headers_only()).unwrap();
        assert!(headers.inner.is_none() && headers.inner_error.is_none());
    }

    fn xz_with_size(data: &[u8]) -> Vec<u8> {
        let mut v = xz(data);
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v
    }

    #[test]
    fn gzip_wrapped_arm64_image() {
        let raw = crate::arm64::tests::build(0x10000, 0b0010, 8192);
        let gz = gzip(&raw);
        assert_eq!(probe(&gz), Some(Format::Compressed(Compression::Gzip)));
        let k = KernelImage::parse(&gz).unwrap();
        assert_eq!(k.arch, Some(Arch::Aarch64));
        assert_eq!(k.inner.as_ref().unwrap().format(), Format::Arm64Image);
        let l = loadable_kernel(&gz, &ParseOptions::default()).unwrap();
        assert_eq!(l.kernel.as_ref(), raw.as_slice());
        assert_eq!(l.steps, vec!["gzip-decompressed".to_owned()]);
        assert_eq!(l.format, Format::Arm64Image);
        let headers = KernelImage::parse_with(&gz, &ParseOptions::headers_only()).unwrap();
        assert!(headers.inner.is_none());
    }

    #[test]
    fn zboot_with_zstd_arm64_payload() {
        let raw = crate::arm64::tests::build(0x10000, 0b0010, 8192);
        let img =
            crate::pe::tests::build(0xaa64, &[(".text", b"stub")], Some(("zstd", &zstd(&raw))));
        assert_eq!(probe(&img), Some(Format::Zboot));
        let k = KernelImage::parse(&img).unwrap();
        assert_eq!(k.arch, Some(Arch::Aarch64));
        assert_eq!(k.inner.as_ref().unwrap().format(), Format::Arm64Image);
        let f = k.facts();
        assert_eq!(
            fact(&f, "zboot.compression"),
            &FactValue::Text("zstd".into())
        );
        assert_eq!(fact(&f, "inner.arm64.page_size"), &FactValue::Int(4096));
        let l = loadable_kernel(&img, &ParseOptions::default()).unwrap();
        assert_eq!(l.kernel.as_ref(), raw.as_slice());
    }

    #[test]
    fn uki_with_bzimage() {
        let bz = crate::x86::tests::build(&gzip(b"vmlinux"), "6.12.0");
        let img = crate::pe::tests::build(
            0x8664,
            &[
                (".osrel", b"ID=test\n"),
                (".cmdline", b"root=/dev/vda quiet\n"),
                (".initrd", b"INITRD"),
                (".linux", &bz),
                (".uname", b"6.12.0\n"),
            ],
            None,
        );
        assert_eq!(probe(&img), Some(Format::Uki));
        let k = KernelImage::parse(&img).unwrap();
        assert_eq!(k.version.as_deref(), Some("6.12.0"));
        assert_eq!(k.inner.as_ref().unwrap().format(), Format::BzImage);
        let f = k.facts();
        assert_eq!(fact(&f, "uki.initrd_size"), &FactValue::Int(6));
        let l = loadable_kernel(&img, &ParseOptions::default()).unwrap();
        assert_eq!(l.kernel.as_ref(), bz.as_slice());
        assert_eq!(l.embedded_cmdline.as_deref(), Some("root=/dev/vda quiet"));
        assert_eq!(l.embedded_initrd.as_deref(), Some(&b"INITRD"[..]));
    }

    #[test]
    fn other_formats_probe() {
        assert_eq!(
            probe(&crate::riscv::tests::build(1 << 20, 4096)),
            Some(Format::RiscvImage)
        );
        assert_eq!(
            probe(&crate::s390::tests::build(4096)),
            Some(Format::S390Image)
        );
        assert_eq!(
            probe(&crate::arm::tests::build(4096)),
            Some(Format::ArmZImage)
        );
        assert_eq!(
            probe(&crate::elf::tests::build(true, true, 21, 64)),
            Some(Format::Elf)
        );
        assert_eq!(
            probe(&crate::pe::tests::build(0x6264, &[(".text", b"x")], None)),
            Some(Format::PeEfi)
        );
        assert_eq!(probe(b"hello world, not a kernel"), None);
        assert!(matches!(
            KernelImage::parse(b"hello"),
            Err(Error::Unrecognized { .. })
        ));
        let s = KernelImage::parse(&crate::s390::tests::build(0)).unwrap();
        assert_eq!(s.endian, Some(Endian::Big));
        assert_eq!(
            fact(&s.facts(), "s390.command_line_limit"),
            &FactValue::Int(896)
        );
    }

    #[test]
    fn corrupt_payload_is_reported_not_fatal() {
        let mut payload = gzip(&[7u8; 5000]);
        let n = payload.len();
        payload[n / 2] ^= 0x55;
        payload[n - 6] ^= 0x55;
        let img = crate::x86::tests::build(&payload, "v");
        let k = KernelImage::parse(&img).unwrap();
        assert!(k.inner.is_none());
        assert!(k.inner_error.is_some());
        assert!(k.facts().iter().any(|f| f.name == "inner_error"));
    }

    #[test]
    fn nested_wrappers_are_bounded() {
        let mut data = crate::arm64::tests::build(0x1000, 0, 64);
        for _ in 0..6 {
            data = gzip(&data);
        }
        assert!(matches!(
            KernelImage::parse(&data),
            Err(Error::TooDeep { .. })
        ));
        assert!(matches!(
            loadable_kernel(&data, &ParseOptions::default()),
            Err(Error::TooDeep { .. })
        ));
    }

    fn samples() -> Vec<Vec<u8>> {
        vec![
            crate::x86::tests::build(&gzip(b"payload"), "v"),
            crate::arm64::tests::build(0x1000, 2, 256),
            crate::riscv::tests::build(0x1000, 256),
            crate::elf::tests::build(true, false, 62, 64),
            crate::elf::tests::build(false, true, 20, 64),
            crate::arm::tests::build(512),
            crate::pe::tests::build(0x8664, &[(".linux", b"x"), (".cmdline", b"c")], None),
            crate::pe::tests::build(0xaa64, &[(".text", b"s")], Some(("gzip", &gzip(b"zz")))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn mutated_headers_never_panic(which in 0usize..8, flips in proptest::collection::vec((0usize..0x300, any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
            let mut data = samples().swap_remove(which);
            for (off, val) in flips {
                if off < data.len() {
                    data[off] = val;
                }
            }
            let keep = cut.index(data.len() + 1);
            data.truncate(keep.max(data.len() / 2));
            let _ = crate::fuzz_parse_image(&data);
            let _ = loadable_kernel(&data, &ParseOptions { max_decompressed: 1 << 16, ..ParseOptions::default() });
        }

        #[test]
        fn truncation_gives_typed_errors(which in 0usize..8, keep in 0usize..0x200) {
            let data = samples().swap_remove(which);
            let keep = keep.min(data.len());
            if let Err(e) = KernelImage::parse(&data[..keep]) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
