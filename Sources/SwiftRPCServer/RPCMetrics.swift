import Metrics
import Prometheus
import SwiftRPC

/// This front's own Prometheus series per function and mode (SPEC §10): calls by outcome code
/// (`ok` or the error's code) and latency.
/// Series exist only for registered functions, so unknown names cannot grow the label set.
public final class RPCMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    /// One function's series. The dispatcher keeps each with the function it counts, so a
    /// call records without looking anything up.
    struct Series: Sendable {
        let function: String
        let mode: String
        let succeeded: Metrics.Counter
        let latency: Metrics.Timer
        let factory: PrometheusMetricsFactory

        /// Records one finished call.
        func record(duration: Duration, errorCode: String?) {
            latency.recordInterval(duration)
            if let errorCode {
                Metrics.Counter(label: "swiftrpc_calls_total", dimensions: Self.dimensions(function, mode, code: errorCode), factory: factory).increment()
            } else {
                succeeded.increment()
            }
        }

        static func dimensions(_ function: String, _ mode: String, code: String) -> [(String, String)] {
            [("func", function), ("mode", mode), ("code", code)]
        }
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
    }

    /// The series of one function, created (at zero) when it is registered.
    func series(function: String, mode: Mode) -> Series {
        Series(
            function: function, mode: mode.rawValue,
            succeeded: Metrics.Counter(label: "swiftrpc_calls_total", dimensions: Series.dimensions(function, mode.rawValue, code: "ok"), factory: factory),
            latency: Metrics.Timer(label: "swiftrpc_call_duration_seconds", dimensions: [("func", function), ("mode", mode.rawValue)], factory: factory),
            factory: factory)
    }

    /// The Prometheus text exposition of every series.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

extension Metrics.Timer {
    func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
