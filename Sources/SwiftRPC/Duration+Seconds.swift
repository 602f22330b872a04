extension Duration {
    /// The whole seconds (what Redis TTLs take).
    public var wholeSeconds: Int64 { components.seconds }

    /// The longest duration a flag, setting or argument may name (100 years). `Duration`'s own
    /// arithmetic traps on overflow, so every number that comes from outside goes through
    /// `init?(checkedSeconds:)` first.
    public static let longestSeconds: Double = 100 * 365 * 86_400

    /// `seconds` as a duration, or `nil` when it is not finite, negative or over `limit`.
    public init?(checkedSeconds seconds: Double, limit: Double = Duration.longestSeconds) {
        guard seconds.isFinite, seconds >= 0, seconds <= min(limit, Duration.longestSeconds) else { return nil }
        self = .nanoseconds(Int64((seconds * 1e9).rounded()))
    }
}
