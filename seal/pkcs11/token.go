package pkcs11

import (
	"fmt"
	"strings"

	p11 "github.com/miekg/pkcs11"
)

// findSlot returns the slot holding the configured token: the configured
// slot (whose token must carry TokenLabel, when that is set too), else the
// one slot whose token is labelled TokenLabel. Errors wrap ErrToken, or
// ErrHSM when the library fails.
func findSlot(ctx *p11.Ctx, cfg Config) (uint, error) {
	if cfg.Slot != nil {
		info, err := ctx.GetTokenInfo(*cfg.Slot)
		if err != nil {
			if isCKR(err, p11.CKR_SLOT_ID_INVALID, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED) {
				return 0, fmt.Errorf("%w: slot %d: %w", ErrToken, *cfg.Slot, err)
			}
			return 0, fmt.Errorf("%w: slot %d: token info: %w", ErrHSM, *cfg.Slot, err)
		}
		if err := usableToken(info, *cfg.Slot); err != nil {
			return 0, err
		}
		if cfg.TokenLabel != "" && tokenLabel(info) != cfg.TokenLabel {
			return 0, fmt.Errorf("%w: slot %d holds token %q, not %q", ErrToken, *cfg.Slot, tokenLabel(info), cfg.TokenLabel)
		}
		return *cfg.Slot, nil
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: slot list: %w", ErrHSM, err)
	}
	var found []uint
	for _, s := range slots {
		info, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue // a token removed since the list was made
		}
		if tokenLabel(info) == cfg.TokenLabel {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: no token labelled %q", ErrToken, cfg.TokenLabel)
	case 1:
	default:
		return 0, fmt.Errorf("%w: %d tokens labelled %q; set slot", ErrToken, len(found), cfg.TokenLabel)
	}
	info, err := ctx.GetTokenInfo(found[0])
	if err != nil {
		return 0, fmt.Errorf("%w: token %q: %w", ErrToken, cfg.TokenLabel, err)
	}
	if err := usableToken(info, found[0]); err != nil {
		return 0, err
	}
	return found[0], nil
}

// usableToken checks the token in slot is initialized with a user PIN.
func usableToken(info p11.TokenInfo, slot uint) error {
	if info.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
		return fmt.Errorf("%w: slot %d: token is not initialized", ErrToken, slot)
	}
	if info.Flags&p11.CKF_USER_PIN_INITIALIZED == 0 {
		return fmt.Errorf("%w: token %q (slot %d): user PIN not initialized", ErrPIN, tokenLabel(info), slot)
	}
	return nil
}

// tokenLabel is the token's label without its blank padding.
func tokenLabel(info p11.TokenInfo) string {
	return strings.TrimRight(info.Label, " \x00")
}
