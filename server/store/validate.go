package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/razor-mk/razor-mk/netboot/dhcp/leases"
)

// Validate checks what every store requires of a tag before storing it:
// a name and a rule that is JSON. The rule's meaning is the rules
// package's business.
func (t Tag) Validate() error {
	if t.Name == "" {
		return errors.New("store: tag without a name")
	}
	if !json.Valid(t.Rule) {
		return fmt.Errorf("store: tag %q: rule is not JSON", t.Name)
	}
	return nil
}

// Validate checks what every store requires of a policy before storing
// it: a name.
func (p Policy) Validate() error {
	if p.Name == "" {
		return errors.New("store: policy without a name")
	}
	return nil
}

// ValidateLease checks what every store requires of a lease before
// storing it: a MAC and a valid address.
func ValidateLease(l leases.Lease) error {
	if l.MAC == "" || !l.IP.IsValid() {
		return fmt.Errorf("store: lease needs a MAC and an address: %+v", l)
	}
	return nil
}
