// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every Swift target.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-rpc",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwiftRPC", targets: ["SwiftRPC"]),
        .library(name: "SwiftRPCServer", targets: ["SwiftRPCServer"]),
        .library(name: "SwiftRPCClient", targets: ["SwiftRPCClient"]),
        .library(name: "SwiftRPCRedis", targets: ["SwiftRPCRedis"]),
        .library(name: "SwiftRPCWorker", targets: ["SwiftRPCWorker"]),
        .library(name: "SwiftRPCApp", targets: ["SwiftRPCApp"]),
        .library(name: "Redis", targets: ["Redis"]),
        .executable(name: "swift-rpc", targets: ["swift-rpc"]),
        .executable(name: "swift-rpc-worker", targets: ["swift-rpc-worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        // hiredis 0.14 from Debian's libhiredis-dev; its reply reader decodes RESP (no hiredis I/O).
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "Redis",
            dependencies: [
                "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Wire types, JSON, registrations and argument binding: no I/O; swift-log for job contexts,
        // NIOCore for the job store's event-loop futures, swift-distributed-tracing for spans.
        .target(
            name: "SwiftRPC",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The SPEC §4 Redis layout: job queue and result store over the Redis client.
        .target(
            name: "SwiftRPCRedis",
            dependencies: [
                "SwiftRPC",
                "Redis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SwiftRPCServer",
            dependencies: [
                "SwiftRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SwiftRPCWorker",
            dependencies: [
                "SwiftRPC",
                "SwiftRPCRedis",
                "Redis",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Swift client: HTTP or raw TCP, never the server or Redis.
        .target(
            name: "SwiftRPCClient",
            dependencies: [
                "SwiftRPC",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ExampleApp",
            dependencies: ["SwiftRPC"],
            swiftSettings: swiftSettings
        ),
        // posix_spawn with a clean signal mask: redis-server and worker children.
        .target(
            name: "ProcessSupport",
            swiftSettings: swiftSettings
        ),
        // The whole command line of SPEC §2 over an app's own functions: `SwiftRPCApp(...).main()`.
        .target(
            name: "SwiftRPCApp",
            dependencies: [
                "SwiftRPC",
                "SwiftRPCServer",
                "SwiftRPCRedis",
                "SwiftRPCWorker",
                "SwiftRPCClient",
                "Redis",
                "ProcessSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The example app's executables: thin calls of SwiftRPCApp over ExampleApp.
        .executableTarget(
            name: "swift-rpc",
            dependencies: ["SwiftRPCApp", "ExampleApp"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "swift-rpc-worker",
            dependencies: ["SwiftRPCApp", "ExampleApp"],
            path: "Workers/swift-rpc-worker",
            swiftSettings: swiftSettings
        ),

        // Benchmarks (not tests): baselines measured in the same run.
        .executableTarget(
            name: "MinimalNIOServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/MinimalNIOServer",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RedisPipelineBench",
            dependencies: ["Redis", .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/RedisPipelineBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "TCPLoad",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            path: "Benchmarks/TCPLoad",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "RouterBench",
            dependencies: [
                "SwiftRPC", "SwiftRPCServer", "ExampleApp", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/RouterBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "XMLBench",
            dependencies: ["SwiftRPC", "SwiftRPCServer"],
            path: "Benchmarks/XMLBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "JSONBench",
            dependencies: ["SwiftRPC"],
            path: "Benchmarks/JSONBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "QueueBench",
            dependencies: ["SwiftRPCRedis", "Redis", "SwiftRPC", "TestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/QueueBench",
            swiftSettings: swiftSettings
        ),

        // The request decoder under libFuzzer (scripts/fuzz); a plain build replays inputs.
        .target(name: "CFuzzDriver", path: "Tests/Fuzz/CFuzzDriver"),
        .executableTarget(
            name: "FuzzRequestDecoder",
            dependencies: ["SwiftRPC", "CFuzzDriver"],
            path: "Tests/Fuzz/FuzzRequestDecoder",
            swiftSettings: swiftSettings
        ),

        // The worker process of the fault-injection suite (a ledger of every execution).
        .executableTarget(
            name: "FaultWorker",
            dependencies: [
                "SwiftRPCWorker", "SwiftRPCRedis", "Redis", "SwiftRPC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Tests/FaultWorker",
            swiftSettings: swiftSettings
        ),

        // Tests: each starts its own redis-server where it needs one.
        .target(
            name: "TestSupport",
            dependencies: ["ProcessSupport", "Redis", "SwiftRPC"],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisTests",
            dependencies: ["Redis", "TestSupport", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwiftRPCTests",
            dependencies: ["SwiftRPC", "ExampleApp", .product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: swiftSettings
        ),
        // Real Redis, real front and worker processes (both executables are built for them).
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "swift-rpc", "swift-rpc-worker", "FaultWorker", "FuzzRequestDecoder", "SwiftRPCWorker", "SwiftRPCRedis", "SwiftRPCServer",
                "SwiftRPCClient", "SwiftRPCApp", "TestSupport",
                "ProcessSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwiftRPCServerTests",
            dependencies: [
                "SwiftRPCServer", "SwiftRPCRedis", "SwiftRPCClient", "ExampleApp", "TestSupport", "ProcessSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
