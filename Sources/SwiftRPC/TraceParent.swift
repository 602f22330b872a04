import Instrumentation
import ServiceContextModule
import Tracing

/// A W3C Trace Context `traceparent` (`00-{trace id}-{parent span id}-{flags}`): the trace a
/// call belongs to and the span that made it. A front takes it from an HTTP request and stores
/// a child of it in the job's hash, so the worker's run is a child of the call that enqueued it.
public struct TraceParent: Sendable, Equatable {
    /// 32 lowercase hex digits.
    public let traceID: String
    /// 16 lowercase hex digits.
    public let parentID: String
    /// 2 hex digits (`01`: sampled).
    public let flags: String

    /// Parses a `traceparent` header; `nil` for anything the W3C spec says to ignore (a wrong
    /// shape, version `ff`, all-zero ids). A later version's extra fields are dropped.
    public init?(_ header: String) {
        let fields = header.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count >= 4, fields[0].count == 2, fields[0] != "ff", fields[0] == "00" ? fields.count == 4 : true,
            Self.isHex(fields[0], count: 2), Self.isHex(fields[1], count: 32), Self.isHex(fields[2], count: 16), Self.isHex(fields[3], count: 2),
            fields[1].contains(where: { $0 != "0" }), fields[2].contains(where: { $0 != "0" })
        else { return nil }
        self.init(traceID: String(fields[1]), parentID: String(fields[2]), flags: String(fields[3]))
    }

    private init(traceID: String, parentID: String, flags: String) {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// The header's text, version 00.
    public var header: String { "00-\(traceID)-\(parentID)-\(flags)" }

    /// The same trace under a new span id: the span this process runs for it.
    public func child() -> TraceParent {
        var generator = SystemRandomNumberGenerator()
        var id: UInt64 = 0
        while id == 0 { id = generator.next() }
        let hex = String(id, radix: 16)
        return TraceParent(traceID: traceID, parentID: String(repeating: "0", count: 16 - hex.count) + hex, flags: flags)
    }

    private static func isHex(_ text: Substring, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Whether the app bootstrapped a tracer (swift-distributed-tracing's default is a no-op).
    /// Read once, at the first span decision: apps bootstrap their tracer before they start.
    private static let tracerIsBootstrapped = !(InstrumentationSystem.tracer is NoOpTracer)

    /// Starts a span with the app's tracer (swift-distributed-tracing: a no-op unless the app
    /// bootstraps one, such as swift-otel's), as a child of `parent` when there is one. Returns
    /// the span and the `traceparent` to hand on to the next step: the tracer's own for the
    /// span when it writes one, else a child of `parent` (so the trace id goes on either way).
    /// Untraced work (no `parent` and no tracer) gets no span and costs nothing more: even a
    /// no-op span cost an enqueue 7 allocations.
    public static func startSpan(
        _ name: @autoclosure () -> String, ofKind kind: SpanKind, parent: TraceParent?
    ) -> (span: (any Span)?, handOn: TraceParent?) {
        guard parent != nil || tracerIsBootstrapped else { return (nil, nil) }
        var context = ServiceContext.topLevel
        if let parent {
            InstrumentationSystem.instrument.extract(["traceparent": parent.header], into: &context, using: HeaderCarrier())
        }
        let span = InstrumentationSystem.tracer.startSpan(name(), context: context, ofKind: kind)
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(span.context, into: &carrier, using: HeaderCarrier())
        return (span, carrier["traceparent"].flatMap { TraceParent($0) } ?? parent?.child())
    }
}

/// Headers as a dictionary, for the tracer's W3C propagation.
private struct HeaderCarrier: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
