package initramfs

// mkdev and devMajor/devMinor encode Linux's dev_t (glibc's
// gnu_dev_makedev): 12 bits of major and 20 of minor, split around the
// old 8-bit fields.
func mkdev(major, minor uint32) uint64 {
	ma, mi := uint64(major), uint64(minor)
	return mi&0xff | (ma&0xfff)<<8 | (mi&^0xff)<<12 | (ma&^0xfff)<<32
}

func devMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }

func devMinor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }
