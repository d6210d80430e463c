package cluster

import "github.com/shoebox/shoebox/vault"

// isID reports whether s is a repository file ID as the vault writes it:
// 64 lowercase hex digits. The ledger itself reads names with
// ParseObject; FuzzClassify checks what classify returns with this.
func isID(s string) bool {
	id, err := vault.ParseID(s)
	return err == nil && id.String() == s
}
