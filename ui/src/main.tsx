import { createRoot } from "react-dom/client";
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { App, applyTheme } from "./App";

applyTheme();
createRoot(document.getElementById("root")!).render(<App />);
