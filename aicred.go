// Package aicred holds the domain types shared by every part of aicred:
// findings, capabilities, verification states, secrets and error kinds.
// It depends on the standard library only; implementations live in
// sub-packages named after what they provide or depend on.
package aicred
