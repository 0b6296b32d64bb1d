/**
 * The web playground's entry: wires the connection panel, the tabs and what each tab shows. Served by the local cloud
 * at `/` (local/playground-route.ts) and built as static files by `npm run build:playground` (playground/build.ts).
 */
import { ChatTab } from './chat';
import { ConnectionPanel } from './connection';
import { byId } from './dom';
import { PAGE_CONFIG_ELEMENT_ID, parsePageConfig } from './page-config';
import { ReportsTab } from './reports';
import { SimulatorTab } from './simulator';
import { Tabs } from './tabs';

function main(): void {
  const config = parsePageConfig(document.getElementById(PAGE_CONFIG_ELEMENT_ID)?.textContent);
  // A page opened from a file has the origin "null": there is no API at it to start with.
  const origin = location.origin.startsWith('http') ? location.origin : '';
  const connection = new ConnectionPanel(config, origin);
  const tabs = new Tabs(byId('tablist', HTMLDivElement));
  const simulator = new SimulatorTab();
  const reports = new ReportsTab(connection);
  new ChatTab(connection, () => void simulator.refresh());

  tabs.onSelect((panelId) => simulator.setVisible(panelId === 'panel-simulator'));
  connection.onChange({
    localTools(tools) {
      tabs.setAvailable('tab-simulator', tools !== undefined);
      simulator.setLocalTools(tools);
      simulator.setVisible(tools !== undefined && tabs.selectedPanel() === 'panel-simulator');
      reports.setLocalTools(tools);
    },
  });
  void connection.start();
}

main();
