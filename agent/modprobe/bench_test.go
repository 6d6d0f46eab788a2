package modprobe

import (
	"fmt"
	"testing"

	"github.com/razor-mk/razor-mk/kmod"
)

// BenchmarkLookup matches one PCI modalias against an alias table the
// size of a full distribution kernel's (about 30,000 patterns), the worst
// case a coldplug meets per device.
func BenchmarkLookup(b *testing.B) {
	var aliases []Alias
	for i := 0; i < 30000; i++ {
		p := fmt.Sprintf("pci:v%08Xd%08Xsv*sd*bc*sc*i*", 0x8000+i%200, i)
		if i%3 == 0 {
			p = fmt.Sprintf("usb:v%04Xp%04Xd*dc*dsc*dp*ic*isc*ip*in*", i%500, i)
		}
		aliases = append(aliases, Alias{Alias: kmod.Alias{Pattern: p, Module: fmt.Sprintf("m%d", i)}, prefix: literalPrefix(p)})
	}
	aliases = append(aliases, Alias{Alias: kmod.Alias{Pattern: "pci:v00001AF4d*sv*sd*bc*sc*i*", Module: "virtio_pci"}, prefix: "pci:v00001AF4d"})
	const dev = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"
	b.ResetTimer()
	for b.Loop() {
		if got := Lookup(aliases, dev); len(got) != 1 {
			b.Fatalf("Lookup = %v", got)
		}
	}
}
