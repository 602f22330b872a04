extension Duration {
    /// The whole seconds (what Redis TTLs take).
    public var wholeSeconds: Int64 { components.seconds }

    /// The longest duration a flag, setting or argument may name (100 years). `Duration`'s own
    /// arithmetic traps on overflow, so every number that comes from outside goes through
    /// `checkedSeconds(_:limit:)` first.
    public static let longestSeconds: Double = 100 * 365 * 86_400

    /// `seconds` as a duration, or `nil` when it is not finite, negative or over `limit`.
    public static func checkedSeconds(_ seconds: Double, limit: Double = longestSeconds) -> Duration? {
        guard seconds.isFinite, seconds >= 0, seconds <= min(limit, longestSeconds) else { return nil }
        return .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
