package rules

import (
	"errors"
	"math"
	"testing"
)

// kvmFacts is a trimmed fact set of a 2-CPU, 4 GiB QEMU/KVM guest.
var kvmFacts = map[string]string{
	"architecture":     "x86_64",
	"processorcount":   "2",
	"memorysize_mb":    "3951.63",
	"memorysize":       "3.86 GB",
	"manufacturer":     "QEMU",
	"productname":      "Standard PC (i440FX + PIIX, 1996)",
	"is_virtual":       "true",
	"virtual":          "kvm",
	"macaddress":       "52:54:00:12:34:56",
	"macaddress_eth0":  "52:54:00:12:34:56",
	"interfaces":       "eth0,lo",
	"mk_hw_cpu_count":  "2",
	"mk_hw_mem_size":   "4GiB",
	"mk_hw_nic_count":  "1",
	"mk_hw_disk_count": "1",
	"mk_hw_disk0_size": "20GiB",
	"mk_hw_cpu0_clock": "2GHz",
	"empty":            "",
	"spaced":           " 16 ",
	"ten":              "10",
	"nine":             "9",
	"neg":              "-3.5",
	"upper":            "DELL Inc.",
	"yes":              "TRUE",
	"no":               "false",
}

func TestMatchOperators(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want bool
	}{
		// literals
		{"true", `true`, true},
		{"false", `false`, false},

		// and / or / not
		{"and all true", `["and", true, ["=", ["fact","virtual"], "kvm"], true]`, true},
		{"and one false", `["and", true, ["=", ["fact","virtual"], "vmware"], true]`, false},
		{"and single", `["and", false]`, false},
		{"or one true", `["or", false, ["=", ["fact","virtual"], "kvm"]]`, true},
		{"or all false", `["or", false, ["=", ["fact","virtual"], "xen"]]`, false},
		{"not true", `["not", true]`, false},
		{"not false", `["not", ["=", ["fact","virtual"], "xen"]]`, true},
		{"not of a missing fact comparison", `["not", ["=", ["fact","absent"], "x"]]`, true},

		// =
		{"= strings", `["=", ["fact","virtual"], "kvm"]`, true},
		{"= strings differ", `["=", ["fact","virtual"], "KVM"]`, false},
		{"= string and number", `["=", ["fact","processorcount"], 2]`, true},
		{"= number and string", `["=", 2, ["fact","processorcount"]]`, true},
		{"= string and number with units", `["=", ["fact","mk_hw_mem_size"], 4294967296]`, true},
		{"= number and non-number string", `["=", ["fact","virtual"], 0]`, false},
		{"= number and number", `["=", ["num", ["fact","ten"]], 10.0]`, true},
		{"= numeric strings compare as strings", `["=", ["fact","spaced"], "16"]`, false},
		{"= boolean and string true", `["=", ["fact","is_virtual"], true]`, true},
		{"= boolean and string any case", `["=", ["fact","yes"], true]`, true},
		{"= boolean and string false", `["=", ["fact","no"], true]`, false},
		{"= boolean and number", `["=", true, 1]`, false},
		{"= booleans", `["=", ["=", 1, 1], true]`, true},
		{"= empty fact", `["=", ["fact","empty"], ""]`, true},
		{"= missing fact", `["=", ["fact","absent"], ""]`, false},
		{"= missing fact both sides", `["=", ["fact","absent"], ["fact","absent2"]]`, false},
		{"= fact default used", `["=", ["fact","absent", "none"], "none"]`, true},
		{"= fact default not used", `["=", ["fact","virtual", "none"], "kvm"]`, true},
		{"= fact default number", `["=", ["fact","absent", 0], "0"]`, true},
		{"= fact default boolean", `["=", ["fact","absent", false], false]`, true},

		// !=
		{"!= differ", `["!=", ["fact","virtual"], "vmware"]`, true},
		{"!= same", `["!=", ["fact","virtual"], "kvm"]`, false},
		{"!= number", `["!=", ["fact","processorcount"], 4]`, true},
		{"!= missing fact is false", `["!=", ["fact","absent"], "x"]`, false},
		{"!= missing fact with default", `["!=", ["fact","absent", ""], "x"]`, true},

		// in
		{"in found", `["in", ["fact","virtual"], "vmware", "kvm", "xen"]`, true},
		{"in not found", `["in", ["fact","virtual"], "vmware", "xen"]`, false},
		{"in number", `["in", ["fact","processorcount"], 1, 2, 4]`, true},
		{"in missing fact", `["in", ["fact","absent"], "a", ""]`, false},
		{"in skips missing candidates", `["in", "x", ["fact","absent"], "x"]`, true},
		{"in only missing candidates", `["in", "x", ["fact","absent"]]`, false},

		// like
		{"like unanchored", `["like", ["fact","productname"], "i440FX"]`, true},
		{"like anchored miss", `["like", ["fact","productname"], "^i440FX"]`, false},
		{"like anchored hit", `["like", ["fact","manufacturer"], "^QEMU$"]`, true},
		{"like design example", `["like", ["fact","upper"], "DELL.*"]`, true},
		{"like case-insensitive flag", `["like", ["fact","upper"], "(?i)^dell"]`, true},
		{"like case-sensitive", `["like", ["fact","upper"], "^dell"]`, false},
		{"like number", `["like", ["num", ["fact","mk_hw_mem_size"]], "^4294967296$"]`, true},
		{"like missing fact", `["like", ["fact","absent"], ""]`, false},
		{"like empty pattern", `["like", ["fact","empty"], ""]`, true},
		{"like fact default", `["like", ["fact","absent","unknown"], "^unk"]`, true},
		{"like boolean default", `["like", ["fact","absent",true], "^true$"]`, true},

		// > >= < <=
		{"> numbers not strings", `[">", ["fact","ten"], ["fact","nine"]]`, true},
		{"> false", `[">", ["fact","nine"], ["fact","ten"]]`, false},
		{"> equal", `[">", ["fact","ten"], 10]`, false},
		{">= equal", `[">=", ["fact","ten"], 10]`, true},
		{">= less", `[">=", ["fact","nine"], 10]`, false},
		{"< true", `["<", ["fact","neg"], 0]`, true},
		{"< false", `["<", ["fact","ten"], "1e1"]`, false},
		{"<= equal", `["<=", ["fact","ten"], "1e1"]`, true},
		{"<= more", `["<=", ["fact","ten"], 9.99]`, false},
		{">= units", `[">=", ["fact","mk_hw_mem_size"], "4GiB"]`, true},
		{"> units", `[">", ["fact","mk_hw_mem_size"], "4GiB"]`, false},
		{"> mixed units", `[">", ["fact","mk_hw_mem_size"], "4GB"]`, true},
		{">= disk", `[">=", ["fact","mk_hw_disk0_size"], "20 GiB"]`, true},
		{"< clock", `["<", ["fact","mk_hw_cpu0_clock"], "2.5GHz"]`, true},
		{"> spaces trimmed", `[">", ["fact","spaced"], 15]`, true},
		{"> not a number is false", `[">", ["fact","virtual"], 1]`, false},
		{"< not a number is false", `["<", ["fact","virtual"], 1]`, false},
		{"<= missing is false", `["<=", ["fact","absent"], 1]`, false},
		{">= missing default", `[">=", ["fact","absent", 0], 0]`, true},
		{"> empty is false", `[">", ["fact","empty"], -1]`, false},
		{"> boolean default is false", `[">", ["fact","absent", true], 0]`, false},

		// num
		{"num converts", `["=", ["num", ["fact","processorcount"]], 2]`, true},
		{"num units", `["=", ["num", ["fact","mk_hw_mem_size"]], ["num", "4096MiB"]]`, true},
		{"num not a number", `["=", ["num", ["fact","virtual"]], ["num", ["fact","virtual"]]]`, false},
		{"num then str", `["=", ["str", ["num", "2.50"]], "2.5"]`, true},
		{"num missing", `["in", ["num", ["fact","absent"]], 0]`, false},

		// str
		{"str of number", `["=", ["str", 2], "2"]`, true},
		{"str of big number", `["=", ["str", 1e21], "1e+21"]`, true},
		{"str of boolean", `["=", ["str", ["=", 1, 1]], "true"]`, true},
		{"str of fact", `["=", ["str", ["fact","virtual"]], "kvm"]`, true},
		{"str compares strings", `["=", ["str", ["fact","processorcount"]], "2.0"]`, false},
		{"str of missing", `["=", ["str", ["fact","absent"]], ""]`, false},

		// lower / upper
		{"lower", `["=", ["lower", ["fact","upper"]], "dell inc."]`, true},
		{"lower miss", `["=", ["lower", ["fact","upper"]], "DELL INC."]`, false},
		{"upper", `["=", ["upper", ["fact","virtual"]], "KVM"]`, true},
		{"upper of number", `["=", ["upper", 1e-7], "1E-7"]`, true},
		{"lower missing", `["=", ["lower", ["fact","absent"]], ""]`, false},

		// fact
		{"fact present", `["=", ["fact","architecture"], "x86_64"]`, true},
		{"fact exact name", `["=", ["fact","Architecture"], "x86_64"]`, false},

		// a realistic rule
		{"small kvm guests", `["and", ["=", ["fact","is_virtual"], true], ["in", ["fact","virtual"], "kvm", "qemu"],
			["<=", ["fact","mk_hw_mem_size"], "8GiB"], ["<", ["num", ["fact","processorcount"]], 4]]`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.rule)
			got, err := r.Match(kvmFacts, nil)
			if err != nil {
				t.Fatalf("Parse(%s).Match(kvmFacts) = %v", tc.rule, err)
			}
			if got != tc.want {
				t.Errorf("Parse(%s).Match(kvmFacts) = %v, want %v", tc.rule, got, tc.want)
			}
		})
	}
}

func TestMatchNilFacts(t *testing.T) {
	for _, rule := range []string{`["=", ["fact","x"], ""]`, `["!=", ["fact","x"], ""]`, `[">", ["fact","x"], 0]`, `["like", ["fact","x"], ""]`} {
		got, err := mustParse(t, rule).Match(nil, nil)
		if got || err != nil {
			t.Errorf("Parse(%s).Match(nil) = %v, %v; want false, nil", rule, got, err)
		}
	}
}

func TestMatchTags(t *testing.T) {
	r := mustParse(t, `["or", ["=", ["fact","virtual"], "kvm"], ["tag","big"]]`)

	// Short-circuit: the tag is not needed when the first test holds.
	called := 0
	resolve := func(name string) (bool, error) {
		called++
		return name == "big", nil
	}
	if got, err := r.Match(kvmFacts, resolve); !got || err != nil || called != 0 {
		t.Errorf("Match(kvm) = %v, %v with %d tag calls; want true, nil with 0", got, err, called)
	}
	if got, err := r.Match(map[string]string{}, resolve); !got || err != nil || called != 1 {
		t.Errorf("Match({}) = %v, %v with %d tag calls; want true, nil with 1", got, err, called)
	}

	// No resolver: ErrUnknownTag.
	_, err := r.Match(map[string]string{}, nil)
	if !errors.Is(err, ErrUnknownTag) {
		t.Errorf("Match({}, nil) = %v, want ErrUnknownTag", err)
	}
	if want := `rules: unknown tag "big": no tags to resolve references against`; err == nil || err.Error() != want {
		t.Errorf("Match({}, nil) = %v, want %s", err, want)
	}

	// The resolver's error comes back unchanged, whatever operator holds
	// the reference.
	boom := errors.New("boom")
	fail := func(string) (bool, error) { return false, boom }
	for _, rule := range []string{
		`["tag","x"]`, `["not", ["tag","x"]]`, `["and", ["tag","x"]]`, `["or", false, ["tag","x"]]`,
		`["=", ["tag","x"], true]`, `["in", true, ["tag","x"]]`, `["=", ["str", ["tag","x"]], "false"]`,
	} {
		if got, err := mustParse(t, rule).Match(nil, fail); got || !errors.Is(err, boom) {
			t.Errorf("Parse(%s).Match(failing resolver) = %v, %v; want false, boom", rule, got, err)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"2", 2, true},
		{"  2\n", 2, true},
		{"-1.5e3", -1500, true},
		{"+7", 7, true},
		{".5", 0.5, true},
		{"5.", 5, true},
		{"007", 7, true},
		{"1E2", 100, true},
		{"4GiB", 4 << 30, true},
		{"4 gib", 4 << 30, true},
		{"4\tGiB", 4 << 30, true},
		{"1.5KiB", 1536, true},
		{"3.84 GB", 3.84e9, true},
		{"2kB", 2000, true},
		{"1EiB", 1 << 60, true},
		{"512B", 512, true},
		{"2.4GHz", 2.4e9, true},
		{"100MHz", 1e8, true},
		{"1Gbit/s", 1e9, true},
		{"2EB", 2e18, true},
		{"1e3MB", 1e9, true},
		{"", 0, false},
		{" ", 0, false},
		{"GiB", 0, false},
		{".", 0, false},
		{"-", 0, false},
		{"e5", 0, false},
		{"1e", 0, false},
		{"1e+", 0, false},
		{"0x10", 0, false},
		{"Inf", 0, false},
		{"NaN", 0, false},
		{"1_000", 0, false},
		{"1,5", 0, false},
		{"2 cores", 0, false},
		{"4GiBs", 0, false},
		{"4 G", 0, false},
		{"1e308KB", 0, false},
		{"1e400", 0, false},
		{"--1", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseNumber(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseNumber(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{2, "2"},
		{-2.5, "-2.5"},
		{4294967296, "4294967296"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{0.000001, "0.000001"},
		{1e-7, "1e-7"},
		{1.5e-10, "1.5e-10"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
	}
	for _, tc := range tests {
		if got := formatNumber(tc.in); got != tc.want {
			t.Errorf("formatNumber(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if f, ok := parseNumber(tc.want); !ok || f != tc.in {
			t.Errorf("parseNumber(%q) = %v, %v; want %v, true", tc.want, f, ok, tc.in)
		}
	}
}
