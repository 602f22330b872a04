import Metrics
import Prometheus
import SwiftRPC

/// Prometheus series per function and mode: calls, errors (by code) and latency.
/// Series exist only for registered functions, so unknown names cannot grow the label set.
public final class RPCMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let perFunction: [String: FunctionSeries]

    struct FunctionSeries: Sendable {
        let calls: Metrics.Counter
        let latency: Metrics.Timer
        let mode: String
    }

    /// - Parameter builtIns: functions the front answers itself (`get_result`), counted as `sync`.
    public init(functions: [RegisteredFunction], builtIns: [String] = [], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
        var perFunction: [String: FunctionSeries] = [:]
        let named = functions.map { ($0.name, $0.mode.rawValue) } + builtIns.map { ($0, Mode.sync.rawValue) }
        for (name, mode) in named {
            let dimensions = [("function", name), ("mode", mode)]
            perFunction[name] = FunctionSeries(
                calls: Metrics.Counter(label: "swiftrpc_calls_total", dimensions: dimensions, factory: factory),
                latency: Metrics.Timer(label: "swiftrpc_call_duration_seconds", dimensions: dimensions, factory: factory),
                mode: mode)
        }
        self.perFunction = perFunction
    }

    /// Records one finished call of a registered function.
    func record(function: String, duration: Duration, errorCode: String?) {
        guard let series = perFunction[function] else { return }
        series.calls.increment()
        series.latency.recordInterval(duration)
        if let errorCode {
            Metrics.Counter(
                label: "swiftrpc_call_errors_total", dimensions: [("function", function), ("mode", series.mode), ("code", errorCode)],
                factory: factory
            ).increment()
        }
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
