// The userd console.
